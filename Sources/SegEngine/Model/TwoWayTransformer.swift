// SAM's two-way transformer (segment_anything/modeling/transformer.py), batched over prompts.
// Token tensors are [B * n, C] with each prompt's rows contiguous.

/// `Attention` with q/k/v/out projections and `downsample_rate` (internal width 256 or 128).
struct SAMAttention {
    let qProj, kProj, vProj, outProj: Linear   // *_proj [internal, 256]; out_proj [256, internal]
    let heads: Int
    var internalDim: Int { qProj.outFeatures }

    init(_ s: WeightScope, dim: Int, heads: Int, downsampleRate: Int) throws {
        let inner = dim / downsampleRate
        qProj = try s.linear("q_proj", in: dim, out: inner)
        kProj = try s.linear("k_proj", in: dim, out: inner)
        vProj = try s.linear("v_proj", in: dim, out: inner)
        outProj = try s.linear("out_proj", in: inner, out: dim)
        self.heads = heads
    }

    /// Attention of projected queries `qp` [B*nq, inner] over projected keys/values [B*nk, inner];
    /// a tensor with only nk (or nq) rows is shared by every prompt of the batch.
    func attend(qp: Tensor, kp: Tensor, vp: Tensor, batch: Int, nq: Int, nk: Int) -> Tensor {
        outProj(Profile.measure("attention") { attendCore(qp: qp, kp: kp, vp: vp, batch: batch, nq: nq, nk: nk) })
    }

    func attendCore(qp: Tensor, kp: Tensor, vp: Tensor, batch: Int, nq: Int, nk: Int) -> Tensor {
        let inner = internalDim, d = inner / heads
        let qShared = qp.rows == nq && batch > 1, kShared = kp.rows == nk && batch > 1, vShared = vp.rows == nk && batch > 1
        var out = Tensor(uninitialized: [batch * nq, inner])
        let scale = 1 / Float(d).squareRoot()
        qp.data.withUnsafeBufferPointer { q in kp.data.withUnsafeBufferPointer { k in vp.data.withUnsafeBufferPointer { v in
            out.data.withUnsafeMutableBufferPointer { o in
                // Split big query sets into blocks so both threads have work even for one prompt.
                let block = 256, qBlocks = (nq + block - 1) / block
                Parallel.chunks(batch * heads * qBlocks, minChunk: 1) { r in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: AttentionKernel.scratchCount(nq: block, nk: nk, d: d))
                    defer { scratch.deallocate() }
                    for job in r {
                        let b = job / (heads * qBlocks), h = (job / qBlocks) % heads, qb = job % qBlocks
                        let q0 = qb * block, nqb = min(block, nq - q0)
                        let qBase = q.baseAddress! + ((qShared ? 0 : b * nq) + q0) * inner + h * d
                        let kBase = k.baseAddress! + (kShared ? 0 : b * nk) * inner + h * d
                        let vBase = v.baseAddress! + (vShared ? 0 : b * nk) * inner + h * d
                        AttentionKernel.run(q: qBase, qStride: inner, k: kBase, kStride: inner, v: vBase, vStride: inner,
                                            out: o.baseAddress! + (b * nq + q0) * inner + h * d, outStride: inner,
                                            nq: nqb, nk: nk, d: d, scale: scale, scratch: scratch)
                    }
                }
            }
        } } }
        return out
    }

    func callAsFunction(q: Tensor, k: Tensor, v: Tensor, batch: Int, nq: Int, nk: Int) -> Tensor {
        attend(qp: qProj(q), kp: kProj(k), vp: vProj(v), batch: batch, nq: nq, nk: nk)
    }
}

extension SAMAttention {
    /// The attention's output (out_proj applied) for one query per prompt, q [B, dim] (its
    /// positional encoding added), over that prompt's keys [B*nk, dim] (the values), whose
    /// scores see them with `keyPE` [nk, dim] added. The keys and values are not projected:
    /// q.(Wk k + bk) = (Wk^T q).k + q.bk per head, and since the softmax weights p sum to 1,
    /// sum p (Wv v + bv) = Wv (sum p v) + bv. So each head's query meets the 4096 keys (and
    /// their positional encodings) as one 256-vector: three [8, 4096, 256] products, about 25 M
    /// multiply-adds a prompt in float, instead of the two [4096, 256] x [256, 128] projections
    /// (268 M).
    func singleQuery(_ q: Tensor, keys: Tensor, keyPE: Tensor, batch: Int, nk: Int) -> Tensor {
        let dim = kProj.inFeatures, inner = internalDim, d = inner / heads
        precondition(q.shape == [batch, dim] && keys.shape == [batch * nk, dim] && keyPE.shape == [nk, dim])
        let qp = qProj(q)   // [B, inner]
        let scale = 1 / Float(d).squareRoot()
        var out = Tensor(uninitialized: [batch, inner])
        let u = UnsafeMutablePointer<Float>.allocate(capacity: heads * dim)        // scale * Wk_h^T q_h per head
        let sc = UnsafeMutablePointer<Float>.allocate(capacity: heads * nk)        // scores, then weights
        let mixed = UnsafeMutablePointer<Float>.allocate(capacity: heads * dim)    // sum_j p_j v_j per head
        defer { u.deallocate(); sc.deallocate(); mixed.deallocate() }
        Profile.measure("attention") {
            kProj.biasOrZero.withUnsafeBufferPointer { bk in
            qp.data.withUnsafeBufferPointer { qpp in out.data.withUnsafeMutableBufferPointer { op in
            keys.data.withUnsafeBufferPointer { kp in keyPE.data.withUnsafeBufferPointer { pe in
                for b in 0..<batch {
                    let qb = qpp.baseAddress! + b * inner
                    throughHeads(qb, n: 1, ldx: inner, weight: kProj.weight, transposed: false, alpha: scale, into: u)
                    for h in 0..<heads {
                        var c: Float = 0
                        for t in 0..<d { c += scale * qb[h * d + t] * bk[h * d + t] }
                        (sc + h * nk).update(repeating: c, count: nk)
                    }
                    let kb = kp.baseAddress! + b * nk * dim
                    Gemm.sgemm(m: heads, n: nk, k: dim, a: u, lda: dim, b: kb, ldb: dim, transB: true, c: sc, ldc: nk, beta: 1)
                    Gemm.sgemm(m: heads, n: nk, k: dim, a: u, lda: dim, b: pe.baseAddress!, ldb: dim, transB: true, c: sc, ldc: nk, beta: 1)
                    Activations.softmaxRows(sc, rows: heads, n: nk)
                    Gemm.sgemm(m: heads, n: dim, k: nk, a: sc, lda: nk, b: kb, ldb: dim, transB: false, c: mixed, ldc: dim)
                    valuesThroughHeads(mixed, n: 1, into: op.baseAddress! + b * inner, ldOut: inner)
                }
            } }
            } }
            }
        }
        return outProj(out)
    }
}

/// MLPBlock: lin1, ReLU, lin2.
struct MLPBlock {
    let lin1: Linear   // mlp.lin1 [2048, 256]
    let lin2: Linear   // mlp.lin2 [256, 2048]

    init(_ s: WeightScope, dim: Int, mlpDim: Int) throws {
        lin1 = try s.linear("lin1", in: dim, out: mlpDim)
        lin2 = try s.linear("lin2", in: mlpDim, out: dim)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = lin1(x)
        Activations.relu(&h.data)
        return lin2(h)
    }
}

/// a + b, elementwise, in one pass into a new tensor.
func added(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.count == b.count)
    return addedBroadcast(a, b)
}

/// `a` [B*n, C] plus `b` [n, C] repeated for each of the B prompts (B = 1: a + b), written in
/// one pass into a new tensor, in parallel where it is large.
func addedBroadcast(_ a: Tensor, _ b: Tensor) -> Tensor {
    let n = b.count
    precondition(n > 0 && a.count % n == 0, "broadcast of \(b.shape) over \(a.shape)")
    var r = Tensor(uninitialized: a.shape)
    r.data.withUnsafeMutableBufferPointer { p in a.data.withUnsafeBufferPointer { x in b.data.withUnsafeBufferPointer { q in
        let dst = p.baseAddress!, src = x.baseAddress!, add = q.baseAddress!
        if a.count == n {
            Parallel.chunks(n) { part in for i in part { dst[i] = src[i] + add[i] } }
        } else {
            // One copy of b per repeat, each a plain vectorised add.
            Parallel.chunks(a.count / n, minChunk: max(1, 4096 / n)) { repeats in
                for k in repeats { let d = dst + k * n, s = src + k * n; for j in 0..<n { d[j] = s[j] + add[j] } }
            }
        }
    } } }
    return r
}

/// TwoWayAttentionBlock: token self-attention, token->image cross-attention, MLP,
/// image->token cross-attention, each followed by a LayerNorm.
struct TwoWayAttentionBlock {
    let selfAttn: SAMAttention               // self_attn (width 256)
    let norm1, norm2, norm3, norm4: LayerNorm
    let crossAttnTokenToImage: SAMAttention  // cross_attn_token_to_image (width 128)
    let mlp: MLPBlock
    let crossAttnImageToToken: SAMAttention  // cross_attn_image_to_token (width 128)
    let skipFirstLayerPE: Bool

    init(_ s: WeightScope, dim: Int, heads: Int, mlpDim: Int, skipFirstLayerPE: Bool) throws {
        selfAttn = try SAMAttention(s.scope("self_attn"), dim: dim, heads: heads, downsampleRate: 1)
        norm1 = try s.layerNorm("norm1", dim, eps: 1e-5)
        crossAttnTokenToImage = try SAMAttention(s.scope("cross_attn_token_to_image"), dim: dim, heads: heads, downsampleRate: 2)
        norm2 = try s.layerNorm("norm2", dim, eps: 1e-5)
        mlp = try MLPBlock(s.scope("mlp"), dim: dim, mlpDim: mlpDim)
        norm3 = try s.layerNorm("norm3", dim, eps: 1e-5)
        norm4 = try s.layerNorm("norm4", dim, eps: 1e-5)
        crossAttnImageToToken = try SAMAttention(s.scope("cross_attn_image_to_token"), dim: dim, heads: heads, downsampleRate: 2)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    /// Projections that depend only on the image, when `keys` is the same for every prompt
    /// (true in the first block): token->image k and v, image->token q.
    struct ImageProjections { var t2iK, t2iV, i2tQ: Tensor }

    func imageProjections(keys: Tensor, keyPE: Tensor) -> ImageProjections {
        let kpe = added(keys, keyPE)
        return ImageProjections(t2iK: crossAttnTokenToImage.kProj(kpe), t2iV: crossAttnTokenToImage.vProj(keys),
                                i2tQ: crossAttnImageToToken.qProj(kpe))
    }

    /// The block's work on the tokens: self-attention, the token->image attention `toImage` of
    /// the tokens with their encoding added, and the MLP, each with its residual and norm.
    func tokens(_ queries: Tensor, queryPE: Tensor, batch: Int, nq: Int, toImage: (Tensor) -> Tensor) -> Tensor {
        var queries = queries
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries, batch: batch, nq: nq, nk: nq)
        } else {
            let q = added(queries, queryPE)
            queries = added(queries, selfAttn(q: q, k: q, v: queries, batch: batch, nq: nq, nk: nq))
        }
        norm1.apply(&queries)
        queries = added(queries, toImage(added(queries, queryPE)))
        norm2.apply(&queries)
        queries = added(queries, mlp(queries))
        norm3.apply(&queries)
        return queries
    }

    /// queries [B*nq, C], keys [B*nk, C] or shared [nk, C]; returns updated (queries, keys [B*nk, C]).
    func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor, batch: Int, nq: Int, nk: Int,
                        shared: ImageProjections? = nil) -> (Tensor, Tensor) {
        let kpe = shared == nil ? addedBroadcast(keys, keyPE) : Tensor(zeros: [0])
        let t2i = crossAttnTokenToImage
        let queries = tokens(queries, queryPE: queryPE, batch: batch, nq: nq) { q in
            t2i.attend(qp: t2i.qProj(q), kp: shared?.t2iK ?? t2i.kProj(kpe), vp: shared?.t2iV ?? t2i.vProj(keys), batch: batch, nq: nq, nk: nk)
        }

        let q = added(queries, queryPE)
        let i2t = crossAttnImageToToken
        let attnOut = i2t.attend(qp: shared?.i2tQ ?? i2t.qProj(kpe), kp: i2t.kProj(q), vp: i2t.vProj(queries),
                                 batch: batch, nq: nk, nk: nq)
        var newKeys = addedBroadcast(attnOut, keys)
        norm4.apply(&newKeys)
        return (queries, newKeys)
    }
}

/// TwoWayTransformer: depth 2, width 256, 8 heads, MLP 2048, then final token->image attention.
struct TwoWayTransformer {
    let layers: [TwoWayAttentionBlock]
    let finalAttnTokenToImage: SAMAttention   // final_attn_token_to_image (width 128)
    let normFinalAttn: LayerNorm              // norm_final_attn

    init(_ s: WeightScope) throws {
        layers = try (0..<2).map {
            try TwoWayAttentionBlock(s.scope("layers").scope($0), dim: 256, heads: 8, mlpDim: 2048, skipFirstLayerPE: $0 == 0)
        }
        finalAttnTokenToImage = try SAMAttention(s.scope("final_attn_token_to_image"), dim: 256, heads: 8, downsampleRate: 2)
        normFinalAttn = try s.layerNorm("norm_final_attn", 256, eps: 1e-5)
    }
}
