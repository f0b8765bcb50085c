// TinyViT's convolutional parts (tiny_vit_sam.py): PatchEmbed, MBConv, PatchMerging, ConvLayer.
// Feature maps are channels-last [H, W, C]; BatchNorm is folded into each conv at load.

/// A 1x1 Conv2d_BN as a matrix product over pixels.
func pointwise(_ s: WeightScope, _ name: String, in i: Int, out o: Int) throws -> Linear {
    let (w, b) = try s.conv2dBN(name, in: i, out: o, kernel: 1)
    return Linear(weight: w, bias: b, inFeatures: i, outFeatures: o, precision: s.scope(name).precision)
}

/// A depthwise 3x3 Conv2d_BN.
func depthwise(_ s: WeightScope, _ name: String, channels c: Int, stride: Int) throws -> DepthwiseConv3x3 {
    let (w, b) = try s.conv2dBN(name, in: c, out: c, kernel: 3, groups: c)
    return DepthwiseConv3x3(weight: w, bias: b, stride: stride)
}

/// `patch_embed.seq`: Conv2d_BN(3, 32, 1) -> GELU -> Conv2d_BN(32, 64, 1), no downsampling.
struct PatchEmbed {
    let seq0: Linear   // image_encoder.patch_embed.seq.0  [32, 3, 1, 1]
    let seq2: Linear   // image_encoder.patch_embed.seq.2  [64, 32, 1, 1]

    init(_ s: WeightScope, inChans: Int, embedDim: Int) throws {
        seq0 = try pointwise(s.scope("seq"), "0", in: inChans, out: embedDim / 2)
        seq2 = try pointwise(s.scope("seq"), "2", in: embedDim / 2, out: embedDim)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        seq2(seq0(x, epilogue: .gelu))
    }
}

/// MBConv: 1x1 expand + GELU, depthwise 3x3 + GELU, 1x1 project, + shortcut, GELU.
struct MBConv {
    let conv1: Linear             // conv1  [hidden, C, 1, 1]
    let conv2: DepthwiseConv3x3   // conv2  [hidden, 1, 3, 3]
    let conv3: Linear             // conv3  [C, hidden, 1, 1]

    init(_ s: WeightScope, dim: Int, expandRatio: Int) throws {
        let hidden = dim * expandRatio
        conv1 = try pointwise(s, "conv1", in: dim, out: hidden)
        conv2 = try depthwise(s, "conv2", channels: hidden, stride: 1)
        conv3 = try pointwise(s, "conv3", in: hidden, out: dim)
    }

    /// With `expanded`, conv1 with its GELU is not computed but looked up: the table's row
    /// index[p] is what conv1 gives pixel p (`PixelLevels`).
    func callAsFunction(_ x: Tensor, uniform: (output: UniformMap, value: [Float])? = nil,
                        expanded: (table: Tensor, index: [Int32])? = nil) -> Tensor {
        pointwiseDepthwisePointwise(x, conv1, conv2, conv3, residual: true, epilogue: .gelu, uniform: uniform, expanded: expanded)
    }

    /// The unfused chain, for tests of the fused one.
    func unfused(_ x: Tensor) -> Tensor {
        conv3(conv2.gelu(conv1(x, epilogue: .gelu)), residual: x, epilogue: .gelu)
    }
}

/// PatchMerging: 1x1 + GELU, depthwise 3x3 (stride 2, or 1 when out_dim is 320) + GELU, 1x1.
struct PatchMerging {
    let conv1: Linear             // conv1  [out, in, 1, 1]
    let conv2: DepthwiseConv3x3   // conv2  [out, 1, 3, 3]
    let conv3: Linear             // conv3  [out, out, 1, 1]

    init(_ s: WeightScope, dim: Int, outDim: Int) throws {
        conv1 = try pointwise(s, "conv1", in: dim, out: outDim)
        conv2 = try depthwise(s, "conv2", channels: outDim, stride: [320, 448, 576].contains(outDim) ? 1 : 2)
        conv3 = try pointwise(s, "conv3", in: outDim, out: outDim)
    }

    func callAsFunction(_ x: Tensor, uniform: (output: UniformMap, value: [Float])? = nil) -> Tensor {
        pointwiseDepthwisePointwise(x, conv1, conv2, conv3, residual: false, epilogue: .none, uniform: uniform)
    }

    /// The unfused chain, for tests of the fused one.
    func unfused(_ x: Tensor) -> Tensor {
        conv3(conv2.gelu(conv1(x, epilogue: .gelu)))
    }
}

/// Stage 0 (`layers.0`): MBConv blocks, then PatchMerging.
struct ConvLayer {
    let blocks: [MBConv]
    let downsample: PatchMerging

    init(_ s: WeightScope, dim: Int, outDim: Int, depth: Int, expandRatio: Int) throws {
        blocks = try (0..<depth).map { try MBConv(s.scope("blocks").scope($0), dim: dim, expandRatio: expandRatio) }
        downsample = try PatchMerging(s.scope("downsample"), dim: dim, outDim: outDim)
    }

    /// With `levels` (x's pixels as rows of a table, `x` being `levels.expand` of `embedded`,
    /// the patch embedding of `levels.levels`), the first block's conv1 runs once per distinct
    /// pixel instead of once per pixel.
    func callAsFunction(_ x: Tensor, levels: (PixelLevels, embedded: Tensor)? = nil) -> Tensor {
        var y = x
        for (i, block) in blocks.enumerated() { y = block(y, expanded: i == 0 ? levels.map(firstExpansion) : nil) }
        return downsample(y)
    }

    /// The same for an x whose pixels marked in `uniform` hold a zero image's features, each
    /// block setting the pixels that stay uniform to its entry of `values` (`zeroResponse`).
    func callAsFunction(_ x: Tensor, uniform: UniformMap, values: [[Float]], levels: (PixelLevels, embedded: Tensor)? = nil) -> Tensor {
        precondition(values.count == blocks.count + 1)
        var map = uniform, y = x
        for (i, (block, value)) in zip(blocks, values).enumerated() {
            map = map.throughConv3x3(stride: 1)
            y = block(y, uniform: (map, value), expanded: i == 0 ? levels.map(firstExpansion) : nil)
        }
        return downsample(y, uniform: (map.throughConv3x3(stride: downsample.conv2.stride), values[blocks.count]))
    }

    /// GELU(conv1) of the first block for each distinct pixel, with the pixels' indices.
    private func firstExpansion(_ levels: (PixelLevels, embedded: Tensor)) -> (table: Tensor, index: [Int32]) {
        let conv1 = blocks[0].conv1, n = levels.0.count
        precondition(levels.embedded.shape == [n, conv1.inFeatures])
        var table = Tensor(uninitialized: [n, conv1.outFeatures])
        Profile.measure("convblock") {
            levels.embedded.data.withUnsafeBufferPointer { e in
                table.data.withUnsafeMutableBufferPointer { t in
                    conv1.rows(e.baseAddress!, count: n, out: t.baseAddress!, ldOut: conv1.outFeatures, epilogue: .gelu)
                }
            }
        }
        return (table, levels.0.index)
    }

    /// What each block and the downsampling give a pixel deep inside a map of `embedded`'s
    /// value (the patch embedding of a zero image), computed by the layer itself on a small map.
    func zeroResponse(embedded: [Float]) -> [[Float]] {
        let side = 16, c = embedded.count
        var y = Tensor(shape: [side, side, c], data: Array((0..<(side * side)).map { _ in embedded }.joined()))
        func centre(_ t: Tensor) -> [Float] {
            let (h, w, k) = (t.shape[0], t.shape[1], t.shape[2]), p = (h / 2) * w + w / 2
            return Array(t.data[(p * k)..<((p + 1) * k)])
        }
        var values: [[Float]] = []
        for block in blocks { y = block(y); values.append(centre(y)) }
        values.append(centre(downsample(y)))
        return values
    }
}

/// epilogue(conv3(GELU(dw(GELU(conv1(x))))) [+ x]) on an [H, W, C] map, by bands of output rows:
/// each worker keeps the expanded rows its depthwise taps need in a three-row ring and the
/// depthwise output row in a scratch row, so the wide intermediate maps (256 channels at 256x256
/// in stage 0, 64 MB each) never go through memory.
/// With `uniform`, the output pixels marked in `uniform.output` are set to `uniform.value` (the
/// block's output for pixels whose taps all hold the shared value, `UniformMap`) instead of
/// computed, and conv1 runs only on the input pixels the other outputs read.
func pointwiseDepthwisePointwise(_ x: Tensor, _ conv1: Linear, _ dw: DepthwiseConv3x3, _ conv3: Linear,
                                 residual: Bool, epilogue: Epilogue,
                                 uniform: (output: UniformMap, value: [Float])? = nil,
                                 expanded: (table: Tensor, index: [Int32])? = nil) -> Tensor {
    Profile.measure("convblock") {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let hidden = conv1.outFeatures, oc = conv3.outFeatures
        precondition(c == conv1.inFeatures && hidden == dw.channels && hidden == conv3.inFeatures)
        let (ho, wo) = dw.outputSize(h, w)
        if residual { precondition(ho == h && wo == w && oc == c, "residual needs equal shapes") }
        // The output pixels to compute in each row, and the input pixels conv1 must expand.
        var outRuns = [[Range<Int>]](repeating: [0..<wo], count: ho), inRuns = [[Range<Int>]](repeating: [0..<w], count: h)
        if let u = uniform {
            precondition(u.output.height == ho && u.output.width == wo && u.value.count == oc)
            let compute = u.output.uniform.map { !$0 }
            outRuns = (0..<ho).map { UniformMap.runs(compute, row: $0, width: wo) }
            var computed = [Bool](repeating: false, count: ho * wo)
            for (oy, runs) in outRuns.enumerated() { for r in runs { for ox in r { computed[oy * wo + ox] = true } } }
            let need = UniformMap.read(by: computed, outWidth: wo, stride: dw.stride, inHeight: h, inWidth: w)
            inRuns = (0..<h).map { UniformMap.runs(need, row: $0, width: w) }
        }
        if let expanded { precondition(expanded.index.count == h * w && expanded.table.shape.last == hidden) }
        let lookup = expanded != nil, table = expanded?.table ?? Tensor(zeros: [0]), index = expanded?.index ?? []
        var y = Tensor(uninitialized: [ho, wo, oc])
        table.data.withUnsafeBufferPointer { tp in index.withUnsafeBufferPointer { ip in
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                let xb = xp.baseAddress!, yb = yp.baseAddress!
                // A bf16 conv3 reads the depthwise row as bf16 codes, GELU and rounding in one pass.
                let bf16 = conv3.bf16
                RowBlocks.run(rows: ho, blockRows: (ho + Parallel.threads - 1) / Parallel.threads,
                              scratchFloats: 3 * w * hidden + wo * hidden + (bf16 == nil ? 0 : (wo * hidden + 1) / 2)) { band, scratch in
                    var held = [-1, -1, -1]   // the input row each ring slot holds
                    let dwRow = scratch + 3 * w * hidden
                    let codes = UnsafeMutableRawPointer(dwRow + wo * hidden).bindMemory(to: UInt16.self, capacity: wo * hidden)
                    func expanded(_ iy: Int?) -> UnsafePointer<Float>? {
                        guard let iy else { return nil }
                        let slot = scratch + (iy % 3) * w * hidden
                        if held[iy % 3] != iy {
                            for r in inRuns[iy] {
                                if lookup {
                                    for ix in r {
                                        (slot + ix * hidden).update(from: tp.baseAddress! + Int(ip[iy * w + ix]) * hidden, count: hidden)
                                    }
                                } else {
                                    conv1.rows(xb + (iy * w + r.lowerBound) * c, count: r.count, out: slot + r.lowerBound * hidden,
                                               ldOut: hidden, epilogue: .gelu)
                                }
                            }
                            held[iy % 3] = iy
                        }
                        return UnsafePointer(slot)
                    }
                    for oy in band {
                        let out = yb + oy * wo * oc, res = residual ? xb + oy * wo * oc : nil
                        if let u = uniform {
                            u.value.withUnsafeBufferPointer { v in
                                for ox in 0..<wo where u.output.uniform[oy * wo + ox] { (out + ox * oc).update(from: v.baseAddress!, count: oc) }
                            }
                            if outRuns[oy].isEmpty { continue }
                        }
                        let r = dw.inputRows(oy, height: h)
                        let p0 = expanded(r.0), p1 = expanded(r.1), p2 = expanded(r.2)
                        for run in outRuns[oy] {
                            let a = run.lowerBound, n = run.count
                            if let bf16 {
                                dw.row(p0, p1, p2, inWidth: w, out: dwRow, outWidth: wo, epilogue: .none, pixels: run)
                                Bf16.geluRounded(dwRow + a * hidden, count: n * hidden, to: codes + a * hidden)
                                conv3.bf16Rows(bf16, codes: codes + a * hidden, count: n, out: out + a * oc, ldOut: oc,
                                               residual: res.map { $0 + a * oc }, epilogue: epilogue)
                            } else {
                                dw.row(p0, p1, p2, inWidth: w, out: dwRow, outWidth: wo, epilogue: .gelu, fastGelu: conv3.lowPrecision, pixels: run)
                                conv3.rows(dwRow + a * hidden, count: n, out: out + a * oc, ldOut: oc,
                                           residual: res.map { $0 + a * oc }, epilogue: epilogue)
                            }
                        }
                    }
                }
            }
        }
        } }
        return y
    }
}
