// Window attention with bf16 products, for the int8 engine on CPUs with AVX-512 BF16
// (docs/DECISIONS.md, "bf16 window attention in the int8 engine"): a group of windows of equal size goes through
// oneDNN's batched matmul twice (scores = Q K^T over every window and head of the group, then
// out = P V), with the scale, position biases and softmax in float between them. Q, K and V are
// rounded to bf16 as they are gathered per head; the exponentials are rounded to bf16 before
// their row sums divide the output rows.
import CDnnl

/// One batched bf16 matmul of fixed shape: dst[b0][b1] = src[b0][b1] · weights[b0][b1].
final class Bf16BatchedMatmul: @unchecked Sendable {
    private let matmul: DnnlMatmul
    private let descs: (src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t)

    /// Dims [b0, b1, m, k] x [b0, b1, k, n] -> [b0, b1, m, n], each with its own strides (elements).
    init?(dims: (b0: Int, b1: Int, m: Int, k: Int, n: Int), srcStrides: [Int], weightStrides: [Int], dstStrides: [Int]) {
        let (b0, b1, m, k, n) = (Int64(dims.b0), Int64(dims.b1), Int64(dims.m), Int64(dims.k), Int64(dims.n))
        var src = dnnl_memory_desc_t(), weights = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        guard dnnl_memory_desc_init_by_strides(&src, 4, [b0, b1, m, k], dnnl_bf16, srcStrides.map(Int64.init)) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&weights, 4, [b0, b1, k, n], dnnl_bf16, weightStrides.map(Int64.init)) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&dst, 4, [b0, b1, m, n], dnnl_f32, dstStrides.map(Int64.init)) == dnnl_success,
              let matmul = DnnlMatmul(src: src, weights: weights, dst: dst) else { return nil }
        self.matmul = matmul
        descs = (src, weights, dst)
    }

    /// Single-threaded (runs on the engine's workers).
    func callAsFunction(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ c: UnsafeMutableRawPointer) {
        matmul.run(src: (descs.src, a), weights: (descs.weights, b), dst: (descs.dst, c))
    }
}

/// Attention over `windows` windows of `tokens` tokens each and `heads` heads of 32 channels,
/// the windows' qkv rows one after another ([q | k | v] per head, 3C floats a row).
final class Bf16WindowAttention: @unchecked Sendable {
    let windows, tokens, heads: Int
    static let headDim = 32
    private let scores: Bf16BatchedMatmul   // Q K^T
    private let mix: Bf16BatchedMatmul      // P V

    /// nil where oneDNN cannot build the products (then the caller stays in float).
    init?(windows g: Int, tokens n: Int, heads h: Int) {
        let d = Self.headDim, e = (n + 1) & ~1, f = (n + 15) & ~15
        // Q, K: [g][h][n][d] dense, K read as [g][h][d][n]; S: [g][h][n][f], rows padded to
        // whole 16-lane vectors for the softmax. The P V product sums over an even count (bf16
        // pairs): P [g][h][n][e] and V [g][h][e][d] with a zero column and row where n is odd;
        // its output [g][h][n][d] is dense (three times faster than oneDNN writing the strided
        // output rows), then copied into the rows [g][n][C].
        guard let s = Bf16BatchedMatmul(dims: (g, h, n, d, n), srcStrides: [h * n * d, n * d, d, 1],
                                        weightStrides: [h * n * d, n * d, 1, d], dstStrides: [h * n * f, n * f, f, 1]),
              let m = Bf16BatchedMatmul(dims: (g, h, n, e, d), srcStrides: [h * n * e, n * e, e, 1],
                                        weightStrides: [h * e * d, e * d, d, 1], dstStrides: [h * n * d, n * d, d, 1]) else { return nil }
        (windows, tokens, heads, scores, mix) = (g, n, h, s, m)
    }

    /// Bytes of scratch `run` needs.
    var scratchBytes: Int { Self.scratchBytes(windows: windows, tokens: tokens, heads: heads) }

    static func scratchBytes(windows: Int, tokens n: Int, heads: Int) -> Int {
        let e = (n + 1) & ~1, f = (n + 15) & ~15
        return windows * heads * (2 * (2 * n + e) * headDim + n * f * 4 + n * e * 2 + n * headDim * 4 + n * 4)
    }

    /// The output rows (C floats each) of the group's windows: `rows(w, i)` is the qkv row of
    /// window w's token i, `out(w, i)` where its output goes (nil: not wanted), `bias(w)` is
    /// window w's [heads][tokens][tokens]. Single-threaded.
    func run(rows: (_ window: Int, _ token: Int) -> UnsafePointer<Float>,
             out: (_ window: Int, _ token: Int) -> UnsafeMutablePointer<Float>?,
             scale: Float, bias: (Int) -> UnsafePointer<Float>, scratch: UnsafeMutableRawPointer) {
        let (g, n, h, d) = (windows, tokens, heads, Self.headDim)
        let e = (n + 1) & ~1, f = (n + 15) & ~15
        let q = scratch.bindMemory(to: UInt16.self, capacity: g * h * (2 * n + e) * d)
        let k = q + g * h * n * d, v = k + g * h * n * d
        let s = UnsafeMutableRawPointer(v + g * h * e * d).bindMemory(to: Float.self, capacity: g * h * n * f)
        let p = UnsafeMutableRawPointer(s + g * h * n * f).bindMemory(to: UInt16.self, capacity: g * h * n * e)
        let o = UnsafeMutableRawPointer(p + g * h * n * e).bindMemory(to: Float.self, capacity: g * h * n * d)
        let inv = o + g * h * n * d   // 1 / each row's sum of exponentials
        for w in 0..<g {
            for i in 0..<n {
                let row = rows(w, i)
                for hd in 0..<h {
                    let src = row + hd * 3 * d, at = ((w * h + hd) * n + i) * d, vat = ((w * h + hd) * e + i) * d
                    Bf16.round(src, count: d, to: q + at)
                    Bf16.round(src + d, count: d, to: k + at)
                    Bf16.round(src + 2 * d, count: d, to: v + vat)
                }
            }
            if e > n { for hd in 0..<h { (v + ((w * h + hd) * e + n) * d).update(repeating: 0, count: d) } }
        }
        scores(q, k, s)
        for w in 0..<g {
            let wb = bias(w)
            for hd in 0..<h {
                for i in 0..<n {
                    let row = (w * h + hd) * n + i, pr = p + row * e
                    inv[row] = 1 / Self.exponentials(s + row * f, bias: wb + (hd * n + i) * n, count: n, scale: scale, into: pr)
                    if e > n { pr[n] = 0 }
                }
            }
        }
        mix(p, v, o)
        for w in 0..<g { for i in 0..<n {
            guard let dst = out(w, i) else { continue }
            for hd in 0..<h {
                let row = (w * h + hd) * n + i, src = o + row * d, r = inv[row]
                for j in 0..<d { dst[hd * d + j] = src[j] * r }
            }
        } }
    }

    /// p = bf16(exp(r * scale + bias - max)) for one row of `count` scores (r, padded to whole
    /// 16-lane vectors, is overwritten), returning the sum of the exponentials: the softmax
    /// without its division, which is applied to the output rows instead. Two passes of 16
    /// lanes (logits and their maximum, the padding lanes at -1e30; exponentials and their sum).
    @inline(__always) static func exponentials(_ r: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count n: Int, scale: Float,
                                               into p: UnsafeMutablePointer<UInt16>) -> Float {
        let body = n & ~15, width = (n + 15) & ~15
        var top = SIMD16<Float>(repeating: -1e30)
        var j = 0
        while j < body {
            let v = load16(bias + j).addingProduct(load16(r + j), SIMD16(repeating: scale))
            store16(v, r + j)
            top.replace(with: v, where: v .> top)
            j += 16
        }
        if body < n {
            var v = SIMD16<Float>(repeating: -1e30)
            for t in 0..<(n - body) { v[t] = bias[body + t].addingProduct(r[body + t], scale) }
            store16(v, r + body)
            top.replace(with: v, where: v .> top)
        }
        let m = SIMD16<Float>(repeating: top.largestLane)
        var sum = SIMD16<Float>()
        j = 0
        while j < width {
            let e = Activations.expNonPositive(load16(r + j) - m)
            store16(e, r + j)
            sum += e
            j += 16
        }
        Bf16.round(r, count: n, to: p)
        return sum.sum()
    }
}
