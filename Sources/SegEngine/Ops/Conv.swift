// Convolutions on channels-last maps [H, W, C] that are not plain matrix products:
// depthwise 3x3 (TinyViT's MBConv, local_conv, PatchMerging), dense 3x3 (the neck), and the
// 2x2 stride-2 transposed convolution of the mask decoder's upscaling.

/// Depthwise 3x3 convolution, padding 1. PyTorch weight [C, 1, 3, 3] is kept as taps [9][C].
public struct DepthwiseConv3x3: Sendable {
    public let taps: [Float]     // [ky*3+kx][c]
    public let bias: [Float]     // [C]
    public let stride: Int
    public var channels: Int { bias.count }

    /// weight: PyTorch layout [C, 1, 3, 3].
    public init(weight: [Float], bias: [Float], stride: Int) {
        let c = bias.count
        precondition(weight.count == c * 9 && (stride == 1 || stride == 2))
        var t = [Float](repeating: 0, count: 9 * c)
        for ch in 0..<c { for k in 0..<9 { t[k * c + ch] = weight[ch * 9 + k] } }
        self.taps = t
        self.bias = bias
        self.stride = stride
    }

    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) { ((h - 1) / stride + 1, (w - 1) / stride + 1) }

    public func callAsFunction(_ x: Tensor) -> Tensor { Profile.measure("dwconv") { apply(x, epilogue: .none) } }

    /// GELU(conv(x)), the activation applied to each output row while it is in cache.
    public func gelu(_ x: Tensor) -> Tensor { Profile.measure("dwconv") { apply(x, epilogue: .gelu) } }

    func apply(_ x: Tensor, epilogue: Epilogue) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(c == channels, "depthwise conv over \(channels) channels applied to \(x.shape)")
        let (ho, wo) = outputSize(h, w)
        var y = Tensor(uninitialized: [ho, wo, c])
        x.data.withUnsafeBufferPointer { xin in
            y.data.withUnsafeMutableBufferPointer { out in
                let xi = xin.baseAddress!, o = out.baseAddress!
                Parallel.chunks(ho, minChunk: 1) { rows in
                    for oy in rows {
                        let r = inputRows(oy, height: h)
                        func at(_ iy: Int?) -> UnsafePointer<Float>? { iy.map { xi + $0 * w * c } }
                        row(at(r.0), at(r.1), at(r.2), inWidth: w, out: o + oy * wo * c, outWidth: wo, epilogue: epilogue)
                    }
                }
            }
        }
        return y
    }

    /// The three input rows output row `oy` reads (nil where they fall outside the image).
    @inline(__always) func inputRows(_ oy: Int, height h: Int) -> (Int?, Int?, Int?) {
        let iy = oy * stride - 1
        func inside(_ y: Int) -> Int? { y >= 0 && y < h ? y : nil }
        return (inside(iy), inside(iy + 1), inside(iy + 2))
    }

    /// One output row from its three input rows (each `inWidth` pixels of C channels, or nil
    /// for zero padding), then the epilogue over the row while it is in cache. Pixels whose
    /// taps all fall inside the row go pixel by pixel, 16 channels at a time, reading the three
    /// input rows in memory order (a missing top or bottom row gets zero taps, which adds exact
    /// zeros); the one or two border pixels go through `pixel`. `fastGelu`
    /// takes `Activations.geluFast`, for outputs that a low-precision product reads next.
    /// `pixels` limits the work to those output pixels (the rest of `out` is left as it was);
    /// they read only input pixels within one of their own columns.
    func row(_ r0: UnsafePointer<Float>?, _ r1: UnsafePointer<Float>?, _ r2: UnsafePointer<Float>?, inWidth w: Int,
             out: UnsafeMutablePointer<Float>, outWidth wo: Int, epilogue: Epilogue, fastGelu: Bool = false,
             pixels: Range<Int>? = nil) {
        let c = channels, s = stride, span = pixels ?? 0..<wo
        precondition(span.lowerBound >= 0 && span.upperBound <= wo)
        // Interior pixels: ox * s - 1 >= 0 and ox * s + 1 <= w - 1.
        let whole = 1..<max(1, min(wo, (w - 2) / s + 1)), interior = whole.clamped(to: span)
        for ox in span where !whole.contains(ox) { pixel(ox, r0, r1, r2, inWidth: w, out: out) }
        if !interior.isEmpty, let mid = r1 {
            if c % 16 == 0 {
                interiorPixels(interior, r0, mid, r2, out: out)
            } else {
                for ox in interior { pixel(ox, r0, r1, r2, inWidth: w, out: out) }
            }
        }
        if epilogue == .gelu {
            let values = (span.lowerBound * c)..<(span.upperBound * c)
            if fastGelu { for j in values { out[j] = Activations.geluFast(out[j]) } }
            else { for j in values { out[j] = Activations.geluScalar(out[j]) } }
        }
    }

    /// The interior pixels of `row`, 16 channels at a time, four pixels at once where they can:
    /// the nine taps are loaded once for the four (the load ports, not the multiply-adds, bound
    /// a pixel at a time), each output's sum in the same order as `pixel`.
    private func interiorPixels(_ interior: Range<Int>, _ r0: UnsafePointer<Float>?, _ mid: UnsafePointer<Float>,
                                _ r2: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let c = channels, s = stride
        let top = r0 ?? mid, bottom = r2 ?? mid
        taps.withUnsafeBufferPointer { tp in
            bias.withUnsafeBufferPointer { bp in
                let t = tp.baseAddress!, b = bp.baseAddress!
                let zero = SIMD16<Float>()
                let hasTop = r0 != nil, hasBottom = r2 != nil
                /// acc + the three taps of one input row, starting at input pixel column `x`.
                @inline(__always) func row(_ acc: inout SIMD16<Float>, _ r: UnsafePointer<Float>, _ x: Int,
                                           _ ka: SIMD16<Float>, _ kb: SIMD16<Float>, _ kc: SIMD16<Float>) {
                    let p = r + x * c
                    acc.addProduct(load16(p), ka); acc.addProduct(load16(p + c), kb); acc.addProduct(load16(p + 2 * c), kc)
                }
                var ox = interior.lowerBound
                while ox < interior.upperBound {
                    let four = ox + 4 <= interior.upperBound
                    for ch in Swift.stride(from: 0, to: c, by: 16) {
                        let tc = t + ch
                        func tap(_ k: Int, _ present: Bool) -> SIMD16<Float> { present ? load16(tc + k * c) : zero }
                        let k0 = tap(0, hasTop), k1 = tap(1, hasTop), k2 = tap(2, hasTop)
                        let k3 = tap(3, true), k4 = tap(4, true), k5 = tap(5, true)
                        let k6 = tap(6, hasBottom), k7 = tap(7, hasBottom), k8 = tap(8, hasBottom)
                        let bv = load16(b + ch)
                        let (t0, m0, b0) = (top + ch, mid + ch, bottom + ch)
                        if four {
                            var a0 = bv, a1 = bv, a2 = bv, a3 = bv
                            let x0 = ox * s - 1, x1 = x0 + s, x2 = x1 + s, x3 = x2 + s
                            row(&a0, t0, x0, k0, k1, k2); row(&a1, t0, x1, k0, k1, k2); row(&a2, t0, x2, k0, k1, k2); row(&a3, t0, x3, k0, k1, k2)
                            row(&a0, m0, x0, k3, k4, k5); row(&a1, m0, x1, k3, k4, k5); row(&a2, m0, x2, k3, k4, k5); row(&a3, m0, x3, k3, k4, k5)
                            row(&a0, b0, x0, k6, k7, k8); row(&a1, b0, x1, k6, k7, k8); row(&a2, b0, x2, k6, k7, k8); row(&a3, b0, x3, k6, k7, k8)
                            let o = out + ox * c + ch
                            store16(a0, o); store16(a1, o + c); store16(a2, o + 2 * c); store16(a3, o + 3 * c)
                        } else {
                            var a = bv
                            let x0 = ox * s - 1
                            row(&a, t0, x0, k0, k1, k2); row(&a, m0, x0, k3, k4, k5); row(&a, b0, x0, k6, k7, k8)
                            store16(a, out + ox * c + ch)
                        }
                    }
                    ox += four ? 4 : 1
                }
            }
        }
    }

    /// One output pixel of `row`, any taps missing: the nine (input pixel, tap) pairs that exist,
    /// 16 channels at a time in the same order as the interior path.
    private func pixel(_ ox: Int, _ r0: UnsafePointer<Float>?, _ r1: UnsafePointer<Float>?, _ r2: UnsafePointer<Float>?,
                       inWidth w: Int, out: UnsafeMutablePointer<Float>) {
        let c = channels, s = stride
        taps.withUnsafeBufferPointer { tp in
            bias.withUnsafeBufferPointer { bp in
                let t = tp.baseAddress!, b = bp.baseAddress!
                withUnsafeTemporaryAllocation(of: (UnsafePointer<Float>, UnsafePointer<Float>).self, capacity: 9) { pairs in
                    var n = 0
                    for ky in 0..<3 {
                        guard let src = ky == 0 ? r0 : ky == 1 ? r1 : r2 else { continue }
                        for kx in 0..<3 {
                            let ix = ox * s + kx - 1
                            if ix >= 0 && ix < w { pairs[n] = (src + ix * c, t + (ky * 3 + kx) * c); n += 1 }
                        }
                    }
                    let o = out + ox * c
                    var ch = 0
                    while ch + 16 <= c {
                        var acc = load16(b + ch)
                        for i in 0..<n { acc.addProduct(load16(pairs[i].0 + ch), load16(pairs[i].1 + ch)) }
                        store16(acc, o + ch)
                        ch += 16
                    }
                    while ch < c {
                        var acc = b[ch]
                        for i in 0..<n { acc = acc.addingProduct(pairs[i].0[ch], pairs[i].1[ch]) }
                        o[ch] = acc
                        ch += 1
                    }
                }
            }
        }
    }

    /// The plain twin, in Double.
    public func reference(_ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let (ho, wo) = outputSize(h, w)
        var y = Tensor(zeros: [ho, wo, c])
        for oy in 0..<ho { for ox in 0..<wo { for ch in 0..<c {
            var s = Double(bias[ch])
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy * stride + ky - 1, ix = ox * stride + kx - 1
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    s += Double(taps[(ky * 3 + kx) * c + ch]) * Double(x.data[(iy * w + ix) * c + ch])
                }
            } }
            y.data[(oy * wo + ox) * c + ch] = Float(s)
        } } }
        return y
    }
}

/// Dense 3x3 convolution, stride 1, padding 1, as im2col + one matrix product.
/// PyTorch weight [out, in, 3, 3] is repacked to [out][ky][kx][in] to match the patch layout.
public struct Conv3x3: Sendable {
    public let weight: [Float]   // [out][9*in]
    public let bias: [Float]?
    public let inChannels: Int
    public let outChannels: Int
    let lin: Linear

    public init(weight: [Float], bias: [Float]?, inChannels: Int, outChannels: Int, precision: Precision = .fp32) {
        precondition(weight.count == outChannels * inChannels * 9)
        var r = [Float](repeating: 0, count: weight.count)
        for o in 0..<outChannels { for i in 0..<inChannels { for k in 0..<9 {
            r[o * 9 * inChannels + k * inChannels + i] = weight[(o * inChannels + i) * 9 + k]
        } } }
        self.weight = r
        self.bias = bias
        self.inChannels = inChannels
        self.outChannels = outChannels
        lin = Linear(weight: r, bias: bias, inFeatures: 9 * inChannels, outFeatures: outChannels, precision: precision)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(c == inChannels)
        if let q = lin.int8 { return Profile.measure("matmul") { int8(x, q) } }
        return lin(Profile.measure("im2col") { patches(x) }).reshaped([h, w, outChannels])
    }

    /// Patches [h*w][9][c] of an [h, w, c] map, zero outside the image.
    func patches(_ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        var patches = Tensor(zeros: [h * w, 9 * c])
        x.data.withUnsafeBufferPointer { xin in
            patches.data.withUnsafeMutableBufferPointer { pp in
                let xi = xin.baseAddress!, p = pp.baseAddress!
                Parallel.chunks(h, minChunk: 1) { rows in
                    for y in rows { for xx in 0..<w {
                        let dst = p + (y * w + xx) * 9 * c
                        for ky in 0..<3 { for kx in 0..<3 {
                            let iy = y + ky - 1, ix = xx + kx - 1
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                (dst + (ky * 3 + kx) * c).update(from: xi + (iy * w + ix) * c, count: c)
                            }
                        } }
                    } }
                }
            }
        }
        return patches
    }

    /// The int8 product without a float patch matrix: each patch row's range is the union of its
    /// pixels' ranges (and 0, which stands for the padding), and its codes are written straight
    /// from the map, block by block. The same codes, scales and products as `lin` on im2col.
    private func int8(_ x: Tensor, _ q: Int8Weights) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2]), o = outChannels, k = 9 * c
        var y = Tensor(uninitialized: [h, w, o])
        var lo = [Float](repeating: 0, count: h * w), hi = lo
        x.data.withUnsafeBufferPointer { xp in
            let xi = xp.baseAddress!
            lo.withUnsafeMutableBufferPointer { lp in
                hi.withUnsafeMutableBufferPointer { hp in
                    let lb = lp.baseAddress!, hb = hp.baseAddress!
                    Parallel.chunks(h * w, minChunk: 256) { pixels in
                        for p in pixels { (lb[p], hb[p]) = Int8Gemm.range(xi + p * c, count: c) }
                    }
                }
            }
            y.data.withUnsafeMutableBufferPointer { yp in
                let yb = yp.baseAddress!
                lo.withUnsafeBufferPointer { lp in
                    hi.withUnsafeBufferPointer { hp in
                        let lb = lp.baseAddress!, hb = hp.baseAddress!
                        RowBlocks.run(rows: h * w, blockRows: RowBlocks.blockRows(widestRow: o), scratchFloats: 0) { block, _ in
                            lin.int8Rows(q, count: block.count, out: yb + block.lowerBound * o, ldOut: o, residual: nil, epilogue: .none) { codes, scales, zeros in
                                for (r, p) in block.enumerated() {
                                    let (py, px) = p.quotientAndRemainder(dividingBy: w)
                                    var mn: Float = 0, mx: Float = 0
                                    for iy in max(0, py - 1)...min(h - 1, py + 1) {
                                        for ix in max(0, px - 1)...min(w - 1, px + 1) {
                                            mn = Swift.min(mn, lb[iy * w + ix]); mx = Swift.max(mx, hb[iy * w + ix])
                                        }
                                    }
                                    let (scale, zero) = Int8Gemm.scaleAndZero(mn, mx)
                                    (scales[r], zeros[r]) = (scale, zero)
                                    for ky in 0..<3 { for kx in 0..<3 {
                                        let iy = py + ky - 1, ix = px + kx - 1, dst = codes + r * k + (ky * 3 + kx) * c
                                        if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                            Int8Gemm.writeCodes(xi + (iy * w + ix) * c, k: c, times: 1 / scale, plus: zero, into: dst)
                                        } else {
                                            dst.update(repeating: UInt8(zero), count: c)
                                        }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// The plain twin, in Double (weights in the repacked layout).
    public func reference(_ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        var y = Tensor(zeros: [h, w, outChannels])
        for oy in 0..<h { for ox in 0..<w { for o in 0..<outChannels {
            var s = Double(bias?[o] ?? 0)
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy + ky - 1, ix = ox + kx - 1
                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                let wBase = o * 9 * c + (ky * 3 + kx) * c
                let xBase = (iy * w + ix) * c
                for i in 0..<c { s += Double(weight[wBase + i]) * Double(x.data[xBase + i]) }
            } }
            y.data[(oy * w + ox) * outChannels + o] = Float(s)
        } } }
        return y
    }
}

/// ConvTranspose2d with kernel 2, stride 2: each input pixel writes a 2x2 block of outputs.
/// PyTorch weight [in, out, 2, 2] is repacked to [dy][dx][out] x [in] for one matrix product.
public struct ConvTranspose2x2: Sendable {
    public let weight: [Float]   // [(dy*2+dx)*out + o][in]
    public let bias: [Float]     // [out]
    public let inChannels: Int
    public let outChannels: Int
    let lin: Linear

    public init(weight: [Float], bias: [Float], inChannels: Int, outChannels: Int, precision: Precision = .fp32) {
        precondition(weight.count == inChannels * outChannels * 4 && bias.count == outChannels)
        var r = [Float](repeating: 0, count: weight.count)
        for i in 0..<inChannels { for o in 0..<outChannels { for k in 0..<4 {
            r[(k * outChannels + o) * inChannels + i] = weight[(i * outChannels + o) * 4 + k]
        } } }
        self.weight = r
        self.bias = bias
        self.inChannels = inChannels
        self.outChannels = outChannels
        lin = Linear(weight: r, bias: nil, inFeatures: inChannels, outFeatures: 4 * outChannels, precision: precision)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        self(x, rows: 0..<x.rows, height: x.shape[0], width: x.shape[1])
    }

    /// The convolution of the [height, width, in] map held by rows `rows` of x (read in place).
    func callAsFunction(_ x: Tensor, rows: Range<Int>, height h: Int, width w: Int) -> Tensor {
        precondition(x.lastDim == inChannels && rows.count == h * w)
        let oc = outChannels
        let blocks = lin(x, rows: rows, shape: [h, w, 4 * oc])
        var y = Tensor(uninitialized: [2 * h, 2 * w, oc])
        blocks.data.withUnsafeBufferPointer { bp in
            bias.withUnsafeBufferPointer { bb in
                y.data.withUnsafeMutableBufferPointer { yp in
                    let src = bp.baseAddress!, b = bb.baseAddress!, dst = yp.baseAddress!
                    Parallel.chunks(h, minChunk: 1) { rows in
                        for iy in rows { for ix in 0..<w { for k in 0..<4 {
                            let (dy, dx) = (k >> 1, k & 1)
                            let s = src + ((iy * w + ix) * 4 + k) * oc
                            let d = dst + ((2 * iy + dy) * 2 * w + 2 * ix + dx) * oc
                            for o in 0..<oc { d[o] = s[o] + b[o] }
                        } } }
                    }
                }
            }
        }
        return y
    }

    /// The plain twin, in Double (weights in the repacked layout).
    public func reference(_ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        var y = Tensor(zeros: [2 * h, 2 * w, outChannels])
        for iy in 0..<h { for ix in 0..<w { for k in 0..<4 { for o in 0..<outChannels {
            var s = Double(bias[o])
            let wBase = (k * outChannels + o) * c
            let xBase = (iy * w + ix) * c
            for i in 0..<c { s += Double(weight[wBase + i]) * Double(x.data[xBase + i]) }
            let oy = 2 * iy + (k >> 1), ox = 2 * ix + (k & 1)
            y.data[(oy * 2 * w + ox) * outChannels + o] = Float(s)
        } } } }
        return y
    }
}
