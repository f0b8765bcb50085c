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

    func callAsFunction(_ x: Tensor) -> Tensor {
        pointwiseDepthwisePointwise(x, conv1, conv2, conv3, residual: true, epilogue: .gelu)
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

    func callAsFunction(_ x: Tensor) -> Tensor {
        pointwiseDepthwisePointwise(x, conv1, conv2, conv3, residual: false, epilogue: .none)
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

    func callAsFunction(_ x: Tensor) -> Tensor {
        downsample(blocks.reduce(x) { $1($0) })
    }
}

/// epilogue(conv3(GELU(dw(GELU(conv1(x))))) [+ x]) on an [H, W, C] map, by bands of output rows:
/// each worker keeps the expanded rows its depthwise taps need in a three-row ring and the
/// depthwise output row in a scratch row, so the wide intermediate maps (256 channels at 256x256
/// in stage 0, 64 MB each) never go through memory.
func pointwiseDepthwisePointwise(_ x: Tensor, _ conv1: Linear, _ dw: DepthwiseConv3x3, _ conv3: Linear,
                                 residual: Bool, epilogue: Epilogue) -> Tensor {
    Profile.measure("convblock") {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let hidden = conv1.outFeatures, oc = conv3.outFeatures
        precondition(c == conv1.inFeatures && hidden == dw.channels && hidden == conv3.inFeatures)
        let (ho, wo) = dw.outputSize(h, w)
        if residual { precondition(ho == h && wo == w && oc == c, "residual needs equal shapes") }
        var y = Tensor(uninitialized: [ho, wo, oc])
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
                            conv1.rows(xb + iy * w * c, count: w, out: slot, ldOut: hidden, epilogue: .gelu)
                            held[iy % 3] = iy
                        }
                        return UnsafePointer(slot)
                    }
                    for oy in band {
                        let r = dw.inputRows(oy, height: h)
                        let p0 = expanded(r.0), p1 = expanded(r.1), p2 = expanded(r.2)
                        let out = yb + oy * wo * oc, res = residual ? xb + oy * wo * oc : nil
                        if let bf16 {
                            dw.row(p0, p1, p2, inWidth: w, out: dwRow, outWidth: wo, epilogue: .none)
                            Bf16.geluRounded(dwRow, count: wo * hidden, to: codes)
                            conv3.bf16Rows(bf16, codes: codes, count: wo, out: out, ldOut: oc, residual: res, epilogue: epilogue)
                        } else {
                            dw.row(p0, p1, p2, inWidth: w, out: dwRow, outWidth: wo, epilogue: .gelu, fastGelu: conv3.lowPrecision)
                            conv3.rows(dwRow, count: wo, out: out, ldOut: oc, residual: res, epilogue: epilogue)
                        }
                    }
                }
            }
        }
        return y
    }
}
