// The two-way transformer's cross-attentions between a prompt's few tokens and its 4096 image
// tokens, without projecting the image tokens (docs/DECISIONS.md, "The decoder's cross-attentions
// without projected image tokens"). Per head h, a projection's weight rows W_h and a small
// vector y: y.(W_h x + b_h) = (W_h^T y).x + y.b_h, so the few tokens' vectors are taken back
// through the weights once and meet the image tokens' 256-vectors directly; and since softmax
// weights sum to 1, the values' projection and out_proj apply after the mixing. Products of
// about 56 x 4096 x 256 (8 heads x 7 tokens) replace projections of 4096 x 256 x 128 and the
// attention of 4096 queries over 7 keys. The float weights are used, also in the int8 engine.
#if canImport(Glibc)
import Glibc
#endif

extension SAMAttention {
    /// For every head h and row j of x ([n, internal], `ldx` apart): alpha * W_h^T x[j]_h, a
    /// `dim`-vector, into u[(h * n + j) * dim] (rows ordered head by head). `weight` is a
    /// projection's [internal, dim] (W_h its rows h*d..<(h+1)*d); with `transposed`, an
    /// out_proj's [dim, internal] (W_h^T its columns).
    func throughHeads(_ x: UnsafePointer<Float>, n: Int, ldx: Int, weight: [Float], transposed: Bool, alpha: Float,
                      into u: UnsafeMutablePointer<Float>) {
        let inner = internalDim, d = inner / heads, dim = weight.count / inner
        weight.withUnsafeBufferPointer { w in
            for h in 0..<heads {
                Gemm.single(m: n, n: dim, k: d, a: x + h * d, lda: ldx, transA: false,
                            b: w.baseAddress! + (transposed ? h * d : h * d * dim), ldb: transposed ? inner : dim, transB: transposed,
                            c: u + h * n * dim, ldc: dim, alpha: alpha, beta: 0)
            }
        }
    }

    /// Each head's mixed 256-vectors (rows h * n + j of `mixed`, `dim` floats each) through its
    /// rows of W_v, plus W_v's bias: out[j][h * d + t] for n rows, `ldOut` apart. What the values'
    /// projection gives after the mixing, since the softmax weights sum to 1.
    func valuesThroughHeads(_ mixed: UnsafePointer<Float>, n: Int, into out: UnsafeMutablePointer<Float>, ldOut: Int) {
        let inner = internalDim, d = inner / heads, dim = vProj.inFeatures
        vProj.weight.withUnsafeBufferPointer { wv in
            for h in 0..<heads {
                Gemm.single(m: n, n: d, k: dim, a: mixed + h * n * dim, lda: dim, transA: false,
                            b: wv.baseAddress! + h * d * dim, ldb: dim, transB: true, c: out + h * d, ldc: ldOut, alpha: 1, beta: 0)
            }
        }
        vProj.biasOrZero.withUnsafeBufferPointer { bv in
            for j in 0..<n { let row = out + j * ldOut; for o in 0..<inner { row[o] += bv[o] } }
        }
    }

    /// Token->image attention of `nq` queries per prompt (q [B*nq, dim], positional encoding
    /// added) over the prompt's `nk` image tokens (`image.keys` the values; the scores see them
    /// with their encoding added). Returns out_proj of the attention, [B*nq, dim], as
    /// `self(q:k:v:...)` computes it, with products in bf16 when `bf16` is given.
    func tokensToImage(_ q: Tensor, image: ImageTokens, batch: Int, nq: Int, nk: Int, bf16: CrossAttentionProducts?) -> Tensor {
        let dim = kProj.inFeatures, inner = internalDim, d = inner / heads, hq = heads * nq
        precondition(q.shape == [batch * nq, dim] && image.keys.shape == [batch * nk, dim])
        let qp = qProj.apply(q)   // [B*nq, inner], float
        var mixed = Tensor(uninitialized: [batch * nq, inner])
        let scale = 1 / Float(d).squareRoot()
        let u = UnsafeMutablePointer<Float>.allocate(capacity: hq * dim)    // scale W_k,h^T q_h, then sum_i p_i x_i
        let s = UnsafeMutablePointer<Float>.allocate(capacity: hq * nk)     // scores, then weights
        let h16 = UnsafeMutablePointer<UInt16>.allocate(capacity: hq * (dim + nk))
        defer { u.deallocate(); s.deallocate(); h16.deallocate() }
        Profile.measure("attention") {
            qp.data.withUnsafeBufferPointer { qpp in mixed.data.withUnsafeMutableBufferPointer { mp in
                for b in 0..<batch {
                    // q.(W_k x + b_k): the bias term is the same for every key, so the softmax drops it.
                    throughHeads(qpp.baseAddress! + b * nq * inner, n: nq, ldx: inner, weight: kProj.weight, transposed: false,
                                 alpha: scale, into: u)
                    if let bf16, let withPE = image.withPE16, let keys = image.keys16 {
                        Bf16.round(u, count: hq * dim, to: h16)
                        withPE.withUnsafeBufferPointer { bf16.scores(h16, $0.baseAddress! + b * nk * dim, s) }
                        Activations.softmaxRows(s, rows: hq, n: nk)
                        Bf16.round(s, count: hq * nk, to: h16 + hq * dim)
                        keys.withUnsafeBufferPointer { bf16.mix(h16 + hq * dim, $0.baseAddress! + b * nk * dim, u) }
                    } else {
                        image.withPE!.data.withUnsafeBufferPointer {
                            Gemm.sgemm(m: hq, n: nk, k: dim, a: u, lda: dim, b: $0.baseAddress! + b * nk * dim, ldb: dim, transB: true, c: s, ldc: nk)
                        }
                        Activations.softmaxRows(s, rows: hq, n: nk)
                        image.keys.data.withUnsafeBufferPointer {
                            Gemm.sgemm(m: hq, n: dim, k: nk, a: s, lda: nk, b: $0.baseAddress! + b * nk * dim, ldb: dim, transB: false, c: u, ldc: dim)
                        }
                    }
                    valuesThroughHeads(u, n: nq, into: mp.baseAddress! + b * nq * inner, ldOut: inner)
                }
            } }
        }
        return outProj.apply(mixed)
    }

    /// Image->token attention of each prompt's `ni` image tokens over its `nt` tokens (`tokensPE`
    /// [B*nt, dim], encoding added, for the scores; `tokens` [B*nt, dim] the values). The image
    /// tokens as queries are either `image` (their encoding added, as the scores see them) or,
    /// when the same for every prompt, already projected: `projected` [ni, internal].
    /// Writes the attention through out_proj without out_proj's bias to `out` [B*ni, dim], a
    /// block of rows at a time, calling `finish` on each block's rows (of `out`, which may run on
    /// several workers at once) while they are in cache.
    func imageToTokens(image: ImageTokens?, projected: Tensor?, tokensPE: Tensor, tokens: Tensor, batch: Int, ni: Int, nt: Int,
                       bf16: CrossAttentionProducts?, out: UnsafeMutablePointer<Float>, finish: (Range<Int>) -> Void) {
        let dim = kProj.inFeatures, inner = internalDim, d = inner / heads, ht = heads * nt
        precondition(tokensPE.shape == [batch * nt, dim] && tokens.shape == [batch * nt, dim] && (image != nil) != (projected != nil))
        let kp = kProj.apply(tokensPE), vp = vProj.apply(tokens)   // [B*nt, inner], float
        let scale = 1 / Float(d).squareRoot()
        let s = UnsafeMutablePointer<Float>.allocate(capacity: ht * ni)     // scores [(h, j), i], then weights
        let u = UnsafeMutablePointer<Float>.allocate(capacity: ht * dim)    // scale W_q,h^T k_jh, then W_o,h v_jh
        let c = UnsafeMutablePointer<Float>.allocate(capacity: ht)          // scale b_q,h . k_jh
        let h16 = UnsafeMutablePointer<UInt16>.allocate(capacity: ht * (dim + ni))
        defer { s.deallocate(); u.deallocate(); c.deallocate(); h16.deallocate() }
        Profile.measure("attention") {
            kp.data.withUnsafeBufferPointer { kpp in vp.data.withUnsafeBufferPointer { vpp in
            qProj.biasOrZero.withUnsafeBufferPointer { bq in
                for b in 0..<batch {
                    let kb = kpp.baseAddress! + b * nt * inner, vb = vpp.baseAddress! + b * nt * inner
                    if let projected {
                        projected.data.withUnsafeBufferPointer { qp in
                            for h in 0..<heads {
                                Gemm.sgemm(m: nt, n: ni, k: d, a: kb + h * d, lda: inner, b: qp.baseAddress! + h * d, ldb: inner,
                                           transB: true, c: s + h * nt * ni, ldc: ni, alpha: scale)
                            }
                        }
                    } else if let image {
                        throughHeads(kb, n: nt, ldx: inner, weight: qProj.weight, transposed: false, alpha: scale, into: u)
                        for h in 0..<heads {
                            for j in 0..<nt {
                                var acc: Float = 0
                                for t in 0..<d { acc += kb[j * inner + h * d + t] * bq[h * d + t] }
                                c[h * nt + j] = scale * acc
                            }
                        }
                        if let bf16, let withPE = image.withPE16 {
                            Bf16.round(u, count: ht * dim, to: h16)
                            withPE.withUnsafeBufferPointer { bf16.scores(h16, $0.baseAddress! + b * ni * dim, s) }
                        } else {
                            image.withPE!.data.withUnsafeBufferPointer {
                                Gemm.sgemm(m: ht, n: ni, k: dim, a: u, lda: dim, b: $0.baseAddress! + b * ni * dim, ldb: dim,
                                           transB: true, c: s, ldc: ni)
                            }
                        }
                        for r in 0..<ht { let row = s + r * ni, cr = c[r]; for i in 0..<ni { row[i] += cr } }
                    }
                    Self.softmaxDownColumns(s, heads: heads, rows: nt, columns: ni)
                    // W_o,h v_jh for every (h, j): the weights then mix these 256-vectors directly.
                    throughHeads(vb, n: nt, ldx: inner, weight: outProj.weight, transposed: true, alpha: 1, into: u)
                    if bf16 != nil {
                        Bf16.round(u, count: ht * dim, to: h16)
                        Bf16.round(s, count: ht * ni, to: h16 + ht * dim)
                    }
                    let block = CrossAttentionProducts.spreadRows
                    RowBlocks.run(rows: ni, blockRows: block, scratchFloats: 0) { r, _ in
                        let dst = out + (b * ni + r.lowerBound) * dim
                        if let bf16, r.count == block {
                            bf16.spread(h16 + ht * dim + r.lowerBound, h16, dst)
                        } else {
                            Gemm.single(m: r.count, n: dim, k: ht, a: s + r.lowerBound, lda: ni, transA: true, b: u, ldb: dim, transB: false,
                                        c: dst, ldc: dim, alpha: 1, beta: 0)
                        }
                        finish((b * ni + r.lowerBound)..<(b * ni + r.upperBound))
                    }
                }
            }
            } }
        }
    }

    /// Softmax over each column of each head's `rows` x `columns` block of scores (the blocks one
    /// after another), in place: the queries run along the rows, 16 lanes at a time.
    static func softmaxDownColumns(_ s: UnsafeMutablePointer<Float>, heads: Int, rows: Int, columns: Int) {
        let body = columns & ~15
        for h in 0..<heads {
            let block = s + h * rows * columns
            var i = 0
            while i < body {
                var top = SIMD16<Float>(repeating: -.greatestFiniteMagnitude)
                for j in 0..<rows { let v = load16(block + j * columns + i); top.replace(with: v, where: v .> top) }
                var sum = SIMD16<Float>()
                for j in 0..<rows {
                    let e = Activations.expNonPositive(load16(block + j * columns + i) - top)
                    store16(e, block + j * columns + i)
                    sum += e
                }
                let inv = 1 / sum
                for j in 0..<rows { store16(load16(block + j * columns + i) * inv, block + j * columns + i) }
                i += 16
            }
            while i < columns {
                var top = -Float.greatestFiniteMagnitude
                for j in 0..<rows { top = max(top, block[j * columns + i]) }
                var sum: Float = 0
                for j in 0..<rows { let e = Activations.expNonPositive(block[j * columns + i] - top); block[j * columns + i] = e; sum += e }
                for j in 0..<rows { block[j * columns + i] /= sum }
                i += 1
            }
        }
    }
}

extension TwoWayAttentionBlock {
    /// The block with its cross-attentions as `tokensToImage` and `imageToTokens` (no image
    /// token projected), for the low-precision engines. `image` holds the prompts' keys, or is
    /// nil in the first block, whose keys (`keys`, shared) have their projections in `shared`.
    /// Returns the queries and the new keys, with their positional encoding added as well when
    /// `forNextBlock` (a last block's keys go to the final attention as they are).
    func projected(queries: Tensor, keys: Tensor, image: ImageTokens?, queryPE: Tensor, keyPE: Tensor, batch: Int, nq: Int, nk: Int,
                   shared: ImageProjections?, forNextBlock: Bool, bf16: CrossAttentionProducts?) -> (Tensor, ImageTokens) {
        precondition((image == nil) == (shared != nil))
        let t2i = crossAttnTokenToImage
        let queries = tokens(queries, queryPE: queryPE, batch: batch, nq: nq) { q in
            if let shared {
                t2i.attend(qp: t2i.qProj(q), kp: shared.t2iK, vp: shared.t2iV, batch: batch, nq: nq, nk: nk)
            } else {
                t2i.tokensToImage(q, image: image!, batch: batch, nq: nq, nk: nk, bf16: bf16)
            }
        }

        let q = added(queries, queryPE)
        let i2t = crossAttnImageToToken
        let rows = batch * nk, dim = keyPE.lastDim, n = rows * dim
        var newKeys = Tensor(uninitialized: [rows, dim])
        // The next block's keys + encoding: float, or with the keys too in bf16 (empty when unused).
        var withPE = [Float](unsafeUninitializedCapacity: forNextBlock && bf16 == nil ? n : 0) { $1 = $0.count }
        var keys16 = [UInt16](unsafeUninitializedCapacity: forNextBlock && bf16 != nil ? n : 0) { $1 = $0.count }
        var withPE16 = [UInt16](unsafeUninitializedCapacity: keys16.count) { $1 = $0.count }
        let residual = image?.keys ?? keys
        newKeys.data.withUnsafeMutableBufferPointer { kp in withPE.withUnsafeMutableBufferPointer { pp in
        keys16.withUnsafeMutableBufferPointer { k16 in withPE16.withUnsafeMutableBufferPointer { p16 in
        residual.data.withUnsafeBufferPointer { rp in keyPE.data.withUnsafeBufferPointer { ep in i2t.outProj.biasOrZero.withUnsafeBufferPointer { bp in
            // (An empty array's buffer may still have an address.)
            let out = KeyRows(keys: kp.baseAddress!, withPE: pp.isEmpty ? nil : pp.baseAddress,
                              keys16: k16.isEmpty ? nil : k16.baseAddress, withPE16: p16.isEmpty ? nil : p16.baseAddress)
            i2t.imageToTokens(image: image, projected: shared?.i2tQ, tokensPE: q, tokens: queries, batch: batch, ni: nk, nt: nq,
                              bf16: bf16, out: kp.baseAddress!) { r in
                norm4.finish(r, out, residual: (rp.baseAddress!, residual.rows), bias: bp.baseAddress!, keyPE: (ep.baseAddress!, keyPE.rows))
            }
        } } }
        } }
        } }
        let next = ImageTokens(keys: newKeys, withPE: withPE.isEmpty ? nil : Tensor(shape: [rows, dim], data: withPE),
                               keys16: keys16.isEmpty ? nil : keys16, withPE16: withPE16.isEmpty ? nil : withPE16)
        return (queries, next)
    }
}

/// Where a block's new keys go, row for row: the keys themselves (float, in place of the
/// attention's output) and, when not nil, keys + encoding in float, or both rounded to bf16.
struct KeyRows {
    let keys: UnsafeMutablePointer<Float>
    let withPE: UnsafeMutablePointer<Float>?
    let keys16, withPE16: UnsafeMutablePointer<UInt16>?
}

extension LayerNorm {
    /// Rows `rows` of `out.keys`, which hold the image->token attention through out_proj:
    /// norm(them + residual + bias) in place, then the rows of `out`'s other parts. `residual`
    /// and `keyPE` are [rows, C] or one [count, C] block repeated (the keys of prompts sharing an
    /// image, and the encoding). Single-threaded; several blocks may run at once.
    func finish(_ rows: Range<Int>, _ out: KeyRows, residual: (UnsafePointer<Float>, count: Int), bias: UnsafePointer<Float>,
                keyPE: (UnsafePointer<Float>, count: Int)) {
        let c = features, y = out.keys
        for r in rows {
            let row = y + r * c, res = residual.0 + (r % residual.count) * c
            for j in 0..<c { row[j] += res[j] + bias[j] }
        }
        self.rows(y + rows.lowerBound * c, count: rows.count, out: y + rows.lowerBound * c)
        if out.withPE == nil && out.withPE16 == nil { return }
        let sum = UnsafeMutablePointer<Float>.allocate(capacity: c)
        defer { sum.deallocate() }
        for r in rows {
            let row = y + r * c, pe = keyPE.0 + (r % keyPE.count) * c
            let dst = out.withPE.map { $0 + r * c } ?? sum
            for j in 0..<c { dst[j] = row[j] + pe[j] }
            if let k16 = out.keys16, let p16 = out.withPE16 {
                Bf16.round(row, count: c, to: k16 + r * c)
                Bf16.round(sum, count: c, to: p16 + r * c)
            }
        }
    }
}

/// A batch of prompts' image tokens as the projected cross-attentions read them: the keys
/// [B*ni, dim] (the values, and the residual), and with the positional encoding added (what the
/// scores see), in float or, where the products run in bf16, both rounded to bf16.
struct ImageTokens {
    var keys: Tensor
    var withPE: Tensor?
    var keys16: [UInt16]?
    var withPE16: [UInt16]?
}

/// The projected cross-attentions' three large products in bf16, for `ht` (head, token) rows
/// and `ni` image tokens of `dim` channels: scores [ht, dim] x image^T, mix [ht, ni] x image,
/// and spread [ht, ni]^T x [ht, dim] (by blocks of rows). nil where the CPU has no bf16 dot products.
/// The spread runs on blocks of `spreadRows` image tokens, whose output rows are normalised
/// while in cache.
final class CrossAttentionProducts: @unchecked Sendable {
    let scores, mix, spread: Bf16Product
    static let spreadRows = 1024

    init?(ht: Int, ni: Int, dim: Int) {
        guard let s = Bf16Product(m: ht, n: ni, k: dim, aTransposed: false, bTransposed: true),
              let m = Bf16Product(m: ht, n: dim, k: ni, aTransposed: false, bTransposed: false),
              let p = Bf16Product(m: Self.spreadRows, n: dim, k: ht, aTransposed: true, bTransposed: false, lda: ni) else { return nil }
        (scores, mix, spread) = (s, m, p)
    }
}
