// TinyViT's transformer parts (tiny_vit_sam.py): Attention with relative position biases,
// Mlp, TinyViTBlock (window attention, local depthwise conv, MLP) and BasicLayer.

/// Window self-attention. Head dim 32 everywhere; qkv rows hold per head [q | k | v].
struct TinyViTAttention {
    let norm: LayerNorm       // attn.norm  [C]            eps 1e-5
    let qkv: Linear           // attn.qkv   [3C, C]
    let proj: Linear          // attn.proj  [C, C]
    let biases: [Float]       // attention_biases[h, idx(i, j)] expanded: [heads][N][N]
    let heads: Int
    let keyDim = 32
    let windowSize: Int

    init(_ s: WeightScope, dim: Int, heads: Int, windowSize ws: Int) throws {
        (norm, qkv) = try s.float().linear("qkv", in: dim, out: 3 * dim).foldingNorm(try s.layerNorm("norm", dim, eps: 1e-5), precision: s.precision)
        proj = try s.linear("proj", in: dim, out: dim)
        self.heads = heads
        windowSize = ws
        // Offsets (|dy|, |dx|) were numbered in first-seen order over point pairs, which is dy*ws+dx.
        let table = try s("attention_biases", [heads, ws * ws])
        let n = ws * ws
        var b = [Float](repeating: 0, count: heads * n * n)
        for h in 0..<heads { for i in 0..<n { for j in 0..<n {
            let dy = abs(i / ws - j / ws), dx = abs(i % ws - j % ws)
            b[(h * n + i) * n + j] = table[h * n + dy * ws + dx]
        } } }
        biases = b
    }

    /// x: [windows * N, C] (N = ws*ws tokens per window, windows laid out one after another).
    func callAsFunction(_ x: Tensor) -> Tensor {
        let n = windowSize * windowSize, c = x.lastDim, windows = x.rows / n
        let t = normThenQKV(x)   // [windows*N, 3C]
        return proj(Profile.measure("attention") { attend(t, windows: windows, n: n, c: c) })
    }

    /// qkv(norm(x)), one block of rows at a time.
    func normThenQKV(_ x: Tensor) -> Tensor {
        Profile.measure("matmul") {
            let c = x.lastDim, o = qkv.outFeatures
            var t = Tensor(uninitialized: [x.rows, o])
            let br = RowBlocks.blockRows(widestRow: o)
            x.data.withUnsafeBufferPointer { xp in
                t.data.withUnsafeMutableBufferPointer { tp in
                    let xb = xp.baseAddress!, tb = tp.baseAddress!
                    RowBlocks.run(rows: x.rows, blockRows: br, scratchFloats: br * c) { r, s in
                        norm.rows(xb + r.lowerBound * c, count: r.count, out: s)
                        qkv.rows(s, count: r.count, out: tb + r.lowerBound * o, ldOut: o, epilogue: .none)
                    }
                }
            }
            return t
        }
    }

    func attend(_ t: Tensor, windows: Int, n: Int, c: Int) -> Tensor {
        var out = Tensor(uninitialized: [windows * n, c])
        let scale = 1 / Float(keyDim).squareRoot(), kd = keyDim, hs = heads
        t.data.withUnsafeBufferPointer { tp in
            biases.withUnsafeBufferPointer { bp in
                out.data.withUnsafeMutableBufferPointer { op in
                    Parallel.chunks(windows * hs, minChunk: 1) { r in
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: AttentionKernel.scratchCount(nq: n, nk: n, d: kd))
                        defer { scratch.deallocate() }
                        for job in r {
                            let w = job / hs, h = job % hs
                            let base = tp.baseAddress! + w * n * 3 * c + h * 3 * kd
                            AttentionKernel.run(q: base, qStride: 3 * c, k: base + kd, kStride: 3 * c,
                                                v: base + 2 * kd, vStride: 3 * c,
                                                out: op.baseAddress! + w * n * c + h * kd, outStride: c,
                                                nq: n, nk: n, d: kd, scale: scale,
                                                bias: bp.baseAddress! + h * n * n, scratch: scratch)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Mlp: LayerNorm, fc1, GELU, fc2.
struct TinyViTMlp {
    let norm: LayerNorm   // mlp.norm [C]
    let fc1: Linear       // mlp.fc1  [4C, C]
    let fc2: Linear       // mlp.fc2  [C, 4C]

    init(norm: LayerNorm, fc1: Linear, fc2: Linear) {
        (self.norm, self.fc1, self.fc2) = (norm, fc1, fc2)
    }

    init(_ s: WeightScope, dim: Int, hidden: Int) throws {
        (norm, fc1) = try s.float().linear("fc1", in: dim, out: hidden).foldingNorm(try s.layerNorm("norm", dim, eps: 1e-5), precision: s.precision)
        // The MLP's second product is the most int8-sensitive layer of stages 2 and 3 (measured
        // layer by layer, docs/DECISIONS.md); there it stays float.
        fc2 = try (dim >= 160 ? s.sensitive() : s).linear("fc2", in: hidden, out: dim)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        fc2(fc1(norm(x), epilogue: .gelu))
    }

    /// x + mlp(x), one block of rows at a time (norm, fc1, GELU, fc2 and the residual in cache).
    func residual(_ x: Tensor) -> Tensor {
        Profile.measure("matmul") {
            let c = x.lastDim, hidden = fc1.outFeatures, rows = x.rows
            precondition(c == norm.features, "Mlp over \(norm.features) features applied to shape \(x.shape)")
            var y = Tensor(uninitialized: x.shape)
            let br = RowBlocks.blockRows(widestRow: hidden)
            x.data.withUnsafeBufferPointer { xp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    let xb = xp.baseAddress!, yb = yp.baseAddress!
                    RowBlocks.run(rows: rows, blockRows: br, scratchFloats: br * (c + hidden)) { r, s in
                        let xr = xb + r.lowerBound * c, n = r.count
                        norm.rows(xr, count: n, out: s)
                        fc1.rows(s, count: n, out: s + br * c, ldOut: hidden, epilogue: .gelu)
                        fc2.rows(s + br * c, count: n, out: yb + r.lowerBound * c, ldOut: c, residual: xr, epilogue: .none)
                    }
                }
            }
            return y
        }
    }
}

/// x + attn(windows of x); local_conv (depthwise 3x3 + BN, no residual); x + mlp(x).
struct TinyViTBlock {
    let attn: TinyViTAttention
    let localConv: DepthwiseConv3x3   // local_conv [C, 1, 3, 3]
    let mlp: TinyViTMlp
    let windowSize: Int

    init(_ s: WeightScope, dim: Int, heads: Int, windowSize: Int, mlpRatio: Int) throws {
        attn = try TinyViTAttention(s.scope("attn"), dim: dim, heads: heads, windowSize: windowSize)
        localConv = try depthwise(s, "local_conv", channels: dim, stride: 1)
        mlp = try TinyViTMlp(s.scope("mlp"), dim: dim, hidden: dim * mlpRatio)
        self.windowSize = windowSize
    }

    /// x: [H, W, C].
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let ws = windowSize
        let nH = (h + ws - 1) / ws, nW = (w + ws - 1) / ws
        // Partition into zero-padded windows (padding is added before the attention's LayerNorm).
        var win = Tensor(uninitialized: [nH * nW * ws * ws, c])
        Profile.measure("window") {
            x.data.withUnsafeBufferPointer { xs in
                win.data.withUnsafeMutableBufferPointer { ws_ in
                    let src = xs.baseAddress!, dst = ws_.baseAddress!
                    Parallel.chunks(nH * ws, minChunk: 1) { rows in
                        forEachWindowRow(rows, h: h, w: w, nW: nW) { s, d, len in
                            if len > 0 { (dst + d).update(from: src + s, count: len) }
                            (dst + d + len).update(repeating: 0, count: ws * c - len)
                        }
                    }
                }
            }
        }
        let attended = attn(win)
        var y = x
        Profile.measure("window") {
            attended.data.withUnsafeBufferPointer { ap in
                y.data.withUnsafeMutableBufferPointer { yp in
                    let a = ap.baseAddress!, o = yp.baseAddress!
                    Parallel.chunks(h, minChunk: 1) { rows in
                        forEachWindowRow(rows, h: h, w: w, nW: nW) { s, d, len in
                            for i in 0..<len { o[s + i] += a[d + i] }
                        }
                    }
                }
            }
        }
        return mlp.residual(localConv(y))
    }

    /// For each window row of the padded rows `ys`: (offset in the [H,W,C] map, offset in the
    /// windowed [windows*ws*ws, C] layout, count of in-image floats; the rest of the window row,
    /// up to ws*C floats, is padding).
    private func forEachWindowRow(_ ys: Range<Int>, h: Int, w: Int, nW: Int, _ body: (Int, Int, Int) -> Void) {
        let ws = windowSize, c = attn.proj.outFeatures
        for y in ys {
            let wy = y / ws, iy = y % ws
            for wx in 0..<nW {
                let x0 = wx * ws, len = y < h ? max(0, min(ws, w - x0)) : 0
                let window = wy * nW + wx
                body((min(y, h - 1) * w + x0) * c, ((window * ws + iy) * ws) * c, len * c)
            }
        }
    }
}

/// Stages 1-3 (`layers.1..3`): TinyViT blocks, then PatchMerging except after the last stage.
struct BasicLayer {
    let blocks: [TinyViTBlock]
    let downsample: PatchMerging?

    init(_ s: WeightScope, dim: Int, outDim: Int?, depth: Int, heads: Int, windowSize: Int) throws {
        blocks = try (0..<depth).map {
            try TinyViTBlock(s.scope("blocks").scope($0), dim: dim, heads: heads, windowSize: windowSize, mlpRatio: 4)
        }
        downsample = try outDim.map { try PatchMerging(s.scope("downsample").sensitive(), dim: dim, outDim: $0) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let y = blocks.reduce(x) { $1($0) }
        return downsample.map { $0(y) } ?? y
    }
}
