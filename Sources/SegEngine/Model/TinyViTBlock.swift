// TinyViT's transformer parts (tiny_vit_sam.py): Attention with relative position biases,
// Mlp, TinyViTBlock (window attention, local depthwise conv, MLP) and BasicLayer.

/// Window self-attention. Head dim 32 everywhere; qkv rows hold per head [q | k | v].
struct TinyViTAttention {
    let norm: LayerNorm       // attn.norm  [C]            eps 1e-5
    let qkv: Linear           // attn.qkv   [3C, C]
    let proj: Linear          // attn.proj  [C, C]
    let table: [Float]        // attention_biases [heads][ws*ws], by |dy| * ws + |dx|
    let heads: Int
    let keyDim = 32
    /// The attention's logit scale, 1 / sqrt(keyDim).
    var scale: Float { 1 / Float(keyDim).squareRoot() }
    let windowSize: Int
    /// The biases for the map size this layer sees in LiteMedSAM (other sizes build their own).
    let expected: WindowBiases
    /// In the int8 engine on CPUs with bf16 dot products: the windows of the expected layout in
    /// groups for bf16 attention (see `bf16Plan`), shared by the blocks of a stage.
    let bf16Groups: [(first: Int, run: Bf16WindowAttention)]?

    /// `layout`: the windows of the map this layer sees in the model; `bf16Groups` its plan.
    init(_ s: WeightScope, dim: Int, heads: Int, layout: WindowLayout, bf16Groups: [(first: Int, run: Bf16WindowAttention)]?) throws {
        (norm, qkv) = try s.float().linear("qkv", in: dim, out: 3 * dim).foldingNorm(try s.layerNorm("norm", dim, eps: 1e-5), precision: s.precision)
        proj = try s.linear("proj", in: dim, out: dim)
        self.heads = heads
        windowSize = layout.size
        // Offsets (|dy|, |dx|) were numbered in first-seen order over point pairs, which is dy*ws+dx.
        table = try s("attention_biases", [heads, layout.size * layout.size])
        expected = WindowBiases(table: table, heads: heads, layout: layout)
        self.bf16Groups = bf16Groups
    }

    /// The biases (and with them the window layout) for an h x w map: the expected ones when
    /// the map has the expected size, else built for it.
    func biases(height h: Int, width w: Int) -> WindowBiases {
        let e = expected.layout
        return e.height == h && e.width == w ? expected
            : WindowBiases(table: table, heads: heads, layout: WindowLayout(height: h, width: w, size: windowSize))
    }

    /// Runs of consecutive windows with the same row count (the whole windows, then each kind of
    /// padded one), cut into groups whose products and scores stay within about 768 KB (in L2).
    /// nil where the CPU has no bf16 dot products or oneDNN cannot build a product.
    static func bf16Plan(layout: WindowLayout, heads: Int) -> [(first: Int, run: Bf16WindowAttention)]? {
        guard CPUFeatures.bf16 else { return nil }
        var made: [[Int]: Bf16WindowAttention] = [:], plan: [(first: Int, run: Bf16WindowAttention)] = []
        let wins = layout.windows
        var i = 0
        while i < wins.count {
            let rows = wins[i].rows
            var end = i
            while end < wins.count && wins[end].rows == rows { end += 1 }
            let g = max(1, min(end - i, 786_432 / Bf16WindowAttention.scratchBytes(windows: 1, tokens: rows, heads: heads)))
            while i < end {
                let count = min(g, end - i)
                guard let run = made[[count, rows]] ?? Bf16WindowAttention(windows: count, tokens: rows, heads: heads) else { return nil }
                made[[count, rows]] = run
                plan.append((i, run))
                i += count
            }
        }
        return plan
    }

    /// x + proj(window attention of x) on an [H, W, C] map; the attention's output stays in map
    /// order, and proj adds the residual as it writes. With bf16 groups (unless `float`), each
    /// group of windows gathers its rows from the map and runs norm and qkv on them itself, so
    /// the qkv rows stay in cache for the attention; else qkv runs over the map first.
    func residual(_ x: Tensor, float: Bool = false) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let biases = biases(height: h, width: w)
        let a: Tensor
        if let groups = biases === expected && !float ? bf16Groups : nil {
            a = Profile.measure("attention") { bf16Attend(x, groups: groups, biases: biases) }
        } else {
            let t = normThenQKV(x)   // [h * w, 3C]
            let pad = normThenQKV(Tensor(zeros: [1, c]))
            a = Profile.measure("attention") { attend(t, pad: pad, biases: biases, c: c) }
        }
        return proj(a.reshaped(x.shape), residual: x, epilogue: .none)
    }

    /// The bf16 attention of `residual`: per group, the windows' rows gathered from the map (a
    /// zero row for a window's padding, as PyTorch pads before the norm), norm and qkv on them,
    /// then `Bf16WindowAttention`, which writes each token's output to its pixel. [H*W, C].
    private func bf16Attend(_ x: Tensor, groups: [(first: Int, run: Bf16WindowAttention)], biases: WindowBiases) -> Tensor {
        let layout = biases.layout, mw = layout.width, c = x.lastDim, wins = layout.windows
        var out = Tensor(uninitialized: [x.rows, c])
        let costs = groups.map { $0.run.windows * $0.run.tokens * $0.run.tokens }
        let most = groups.map { $0.run.windows * $0.run.tokens }.max() ?? 0   // rows of the largest group
        let floats = most * 5 * c + ((groups.map(\.run.scratchBytes).max() ?? 0) + 3) / 4
        x.data.withUnsafeBufferPointer { xp in
            out.data.withUnsafeMutableBufferPointer { op in
                let xb = xp.baseAddress!, o = op.baseAddress!
                Parallel.balanced(costs: costs, scratchFloats: floats) { job, scratch in
                    let (first, run) = groups[job], n = run.tokens, m = run.windows * n
                    // rows [m, C], qkv [m, 3C], norm scratch [m, C], then the attention's scratch
                    let rows = scratch, t = rows + most * c, normed = t + most * 3 * c
                    for wi in 0..<run.windows {
                        let win = wins[first + wi]
                        for i in 0..<n {
                            let dst = rows + (wi * n + i) * c
                            if let p = win.pixel(i, width: mw) { dst.update(from: xb + p * c, count: c) } else { dst.update(repeating: 0, count: c) }
                        }
                    }
                    qkv.normalizedRows(norm, rows, count: m, out: t, ldOut: 3 * c, scratch: normed, epilogue: .none)
                    run.run(rows: { UnsafePointer(t + ($0 * n + $1) * 3 * c) },
                            out: { wins[first + $0].pixel($1, width: mw).map { o + $0 * c } },
                            scale: scale, bias: { biases.bias(window: first + $0) },
                            scratch: UnsafeMutableRawPointer(normed + most * c))
                }
            }
        }
        return out
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
                        qkv.normalizedRows(norm, xb + r.lowerBound * c, count: r.count, out: tb + r.lowerBound * o, ldOut: o,
                                           scratch: s, epilogue: .none)
                    }
                }
            }
            return t
        }
    }

    /// Each window's tokens attend to each other, per head, in float: the qkv rows gathered in
    /// window order (the padding rows too), one `AttentionKernel` job per (window, head), the
    /// real tokens' outputs scattered back. t: the map's qkv rows [H*W, 3C] in map order; pad:
    /// the qkv row of a padding token [3C]. Returns the attention's output [H*W, C] in map order.
    func attend(_ t: Tensor, pad: Tensor, biases: WindowBiases, c: Int) -> Tensor {
        let layout = biases.layout, wins = layout.windows, mw = layout.width, kd = keyDim, hs = heads
        precondition(t.rows == layout.height * mw && t.lastDim == 3 * c && pad.count == 3 * c)
        var out = Tensor(uninitialized: [t.rows, c])
        let windowed = UnsafeMutablePointer<Float>.allocate(capacity: layout.rows * 4 * c)
        defer { windowed.deallocate() }
        let tw = windowed, ow = windowed + layout.rows * 3 * c   // [rows, 3C] in, [rows, C] out
        t.data.withUnsafeBufferPointer { tp in
            pad.data.withUnsafeBufferPointer { pp in
                let qkv = tp.baseAddress!, padRow = pp.baseAddress!
                Profile.measure("window") {
                    Parallel.chunks(wins.count, minChunk: 1) { ws in
                        for win in wins[ws] {
                            for i in 0..<win.rows {
                                (tw + (win.offset + i) * 3 * c).update(from: win.pixel(i, width: mw).map { qkv + $0 * 3 * c } ?? padRow, count: 3 * c)
                            }
                        }
                    }
                }
            }
        }
        let costs = wins.flatMap { repeatElement($0.rows * $0.rows, count: hs) }
        let widest = wins.map(\.rows).max() ?? 0
        Parallel.balanced(costs: costs, scratchFloats: AttentionKernel.scratchCount(nq: widest, nk: widest, d: kd)) { job, scratch in
            let win = wins[job / hs], h = job % hs, n = win.rows
            let base = tw + win.offset * 3 * c + h * 3 * kd
            AttentionKernel.run(q: base, qStride: 3 * c, k: base + kd, kStride: 3 * c, v: base + 2 * kd, vStride: 3 * c,
                                out: ow + win.offset * c + h * kd, outStride: c, nq: n, nk: n, d: kd, scale: scale,
                                bias: biases.bias(window: job / hs) + h * n * n, scratch: scratch)
        }
        out.data.withUnsafeMutableBufferPointer { op in
            let o = op.baseAddress!
            Profile.measure("window") {
                Parallel.chunks(wins.count, minChunk: 1) { ws in
                    for win in wins[ws] {
                        for i in 0..<win.real { (o + win.pixel(i, width: mw)! * c).update(from: ow + (win.offset + i) * c, count: c) }
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
        // The MLP's second product is the most int8-sensitive layer of stage 2 (measured layer
        // by layer, docs/DECISIONS.md); there it stays float (bf16 where the CPU has it). Stage
        // 3's, as sensitive by the embedding's NMSE, runs in int8 where activations get 8 bits
        // (VNNI): masks agree with fp32 as well as before (docs/DECISIONS.md, "int8 for stage
        // 3's fc2"); with 7-bit activations they did not.
        fc2 = try (dim == 160 || !CPUFeatures.vnni ? s.sensitive() : s).linear("fc2", in: hidden, out: dim)
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
                        fc1.normalizedRows(norm, xr, count: n, out: s + br * c, ldOut: hidden, scratch: s, epilogue: .gelu)
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

    init(_ s: WeightScope, dim: Int, heads: Int, mlpRatio: Int, layout: WindowLayout,
         bf16Groups: [(first: Int, run: Bf16WindowAttention)]?) throws {
        attn = try TinyViTAttention(s.scope("attn"), dim: dim, heads: heads, layout: layout, bf16Groups: bf16Groups)
        localConv = try depthwise(s, "local_conv", channels: dim, stride: 1)
        mlp = try TinyViTMlp(s.scope("mlp"), dim: dim, hidden: dim * mlpRatio)
    }

    /// x: [H, W, C].
    func callAsFunction(_ x: Tensor) -> Tensor {
        mlp.residual(localConv(attentionResidual(x)))
    }

    /// x + the window attention of x, on an [H, W, C] map.
    func attentionResidual(_ x: Tensor) -> Tensor { attn.residual(x) }
}

/// Stages 1-3 (`layers.1..3`): TinyViT blocks, then PatchMerging except after the last stage.
struct BasicLayer {
    let blocks: [TinyViTBlock]
    let downsample: PatchMerging?

    /// `resolution`: the side of the square map this stage sees in the model.
    init(_ s: WeightScope, dim: Int, outDim: Int?, depth: Int, heads: Int, windowSize: Int, resolution: Int) throws {
        // One window layout and one bf16 plan (oneDNN products built at load) for all blocks.
        let layout = WindowLayout(height: resolution, width: resolution, size: windowSize)
        let plan = s.precision != .fp32 ? TinyViTAttention.bf16Plan(layout: layout, heads: heads) : nil
        blocks = try (0..<depth).map {
            try TinyViTBlock(s.scope("blocks").scope($0), dim: dim, heads: heads, mlpRatio: 4, layout: layout, bf16Groups: plan)
        }
        downsample = try outDim.map { try PatchMerging(s.scope("downsample").sensitive(), dim: dim, outDim: $0) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let y = blocks.reduce(x) { $1($0) }
        return downsample.map { $0(y) } ?? y
    }
}
