// The mask decoder (`mask_decoder`, segment_anything/modeling/mask_decoder.py) with multimask
// output off: only mask token 0's hypernetwork runs. The other hypernetworks and the IoU head
// are loaded (the checkpoint must match) but not evaluated, since their outputs are unused.

/// SAM's MLP: Linear layers with ReLU between.
struct SAMMLP {
    let layers: [Linear]   // layers.{i}

    init(_ s: WeightScope, input: Int, hidden: Int, output: Int, depth: Int) throws {
        let dims = [input] + [Int](repeating: hidden, count: depth - 1) + [output]
        layers = try (0..<depth).map { try s.scope("layers").linear(String($0), in: dims[$0], out: dims[$0 + 1]) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for (i, l) in layers.enumerated() {
            h = l(h)
            if i < layers.count - 1 { Activations.relu(&h.data) }
        }
        return h
    }
}

/// Decoder state that depends only on the image: computed once per slice, shared by its boxes.
public struct ImageContext {
    let src: Tensor          // embedding + no_mask_embed, [4096, 256]
    let shared: TwoWayAttentionBlock.ImageProjections
}

public struct MaskDecoder {
    let transformer: TwoWayTransformer
    let iouToken: [Float]                    // iou_token.weight [1, 256]
    let maskTokens: [Float]                  // mask_tokens.weight [4, 256]
    let upscale0: ConvTranspose2x2           // output_upscaling.0 [256, 64, 2, 2]
    let upscale1: LayerNorm                  // output_upscaling.1 LayerNorm2d(64), eps 1e-6
    let upscale3: ConvTranspose2x2           // output_upscaling.3 [64, 32, 2, 2]
    let hypernetworks: [SAMMLP]              // output_hypernetworks_mlps.{0..3}: 256 -> 256 -> 256 -> 32
    let iouPredictionHead: SAMMLP            // iou_prediction_head: 256 -> 256 -> 256 -> 4
    let densePE: Tensor                      // prompt_encoder.get_dense_pe(), [4096, 256]
    let noMaskEmbed: [Float]
    /// The cross-attentions without projected image tokens (`TwoWayAttentionBlock.projected`):
    /// in the low-precision engines. fp32 keeps PyTorch's order of operations.
    let projectedCrossAttention: Bool
    /// Their large products in bf16, where the CPU has bf16 dot products.
    let crossProducts: CrossAttentionProducts?

    /// Tokens per prompt (the IoU token, 4 mask tokens, a box's two corners) and image tokens
    /// (the 64 x 64 embedding).
    static let tokensPerPrompt = 7, imageTokens = 4096

    public init(_ s: WeightScope, prompt: PromptEncoder) throws {
        transformer = try TwoWayTransformer(s.scope("transformer"))
        iouToken = try s.scope("iou_token")("weight", [1, 256])
        maskTokens = try s.scope("mask_tokens")("weight", [4, 256])
        let up = s.scope("output_upscaling")
        upscale0 = ConvTranspose2x2(weight: try up.scope("0")("weight", [256, 64, 2, 2]), bias: try up.scope("0")("bias", [64]),
                                    inChannels: 256, outChannels: 64, precision: s.precision)
        upscale1 = try up.layerNorm("1", 64, eps: 1e-6)
        upscale3 = ConvTranspose2x2(weight: try up.scope("3")("weight", [64, 32, 2, 2]), bias: try up.scope("3")("bias", [32]),
                                    inChannels: 64, outChannels: 32, precision: s.precision)
        hypernetworks = try (0..<4).map {
            try SAMMLP(s.scope("output_hypernetworks_mlps").scope($0), input: 256, hidden: 256, output: 32, depth: 3)
        }
        iouPredictionHead = try SAMMLP(s.scope("iou_prediction_head"), input: 256, hidden: 256, output: 4, depth: 3)
        densePE = prompt.densePE()
        noMaskEmbed = prompt.noMaskEmbed
        projectedCrossAttention = s.precision != .fp32
        crossProducts = s.precision != .fp32
            ? CrossAttentionProducts(ht: transformer.layers[0].crossAttnImageToToken.heads * Self.tokensPerPrompt, ni: Self.imageTokens, dim: 256)
            : nil
    }

    /// Image-only work for an embedding [64, 64, 256].
    public func context(for embedding: Tensor) -> ImageContext {
        precondition(embedding.shape == [64, 64, 256], "decoder needs a [64, 64, 256] embedding, got \(embedding.shape)")
        Profile.stage = "ctx "
        defer { Profile.stage = "" }
        let src = addedBroadcast(embedding.reshaped([4096, 256]), Tensor(shape: [1, 256], data: noMaskEmbed))
        return ImageContext(src: src, shared: transformer.layers[0].imageProjections(keys: src, keyPE: densePE))
    }

    /// Low-resolution mask logits [B, 256, 256] for B prompts' sparse embeddings [B*2, 256].
    /// With `within` (the resized image inside the padded input), only the logits of its rows and
    /// columns (rounded up to whole 4x4 blocks) are computed; the others, which post-processing
    /// crops away, are -infinity. The upscaling is per embedding pixel (transposed 2x2
    /// convolutions, a per-pixel norm and GELUs), so the computed ones are unchanged.
    public func predictMasks(_ ctx: ImageContext, sparse: Tensor, within: (height: Int, width: Int)? = nil) -> Tensor {
        let batch = sparse.rows / 2, nq = Self.tokensPerPrompt, nk = Self.imageTokens
        // tokens = [iou_token, mask_tokens (4), sparse (2)] per prompt.
        var tokens = Tensor(zeros: [batch * nq, 256])
        for b in 0..<batch {
            let base = b * nq * 256
            for c in 0..<256 { tokens.data[base + c] = iouToken[c] }
            for i in 0..<1024 { tokens.data[base + 256 + i] = maskTokens[i] }
            for i in 0..<512 { tokens.data[base + 5 * 256 + i] = sparse.data[b * 512 + i] }
        }
        var queries = tokens
        var keys = ctx.src, image: ImageTokens? = nil
        defer { Profile.stage = "" }
        for (i, layer) in transformer.layers.enumerated() {
            Profile.stage = "t\(i) "
            if projectedCrossAttention {
                let next: ImageTokens
                (queries, next) = layer.projected(queries: queries, keys: keys, image: image, queryPE: tokens, keyPE: densePE,
                                                  batch: batch, nq: nq, nk: nk, shared: i == 0 ? ctx.shared : nil,
                                                  forNextBlock: i + 1 < transformer.layers.count, bf16: crossProducts)
                (keys, image) = (next.keys, next)
            } else {
                (queries, keys) = layer(queries: queries, keys: keys, queryPE: tokens, keyPE: densePE, batch: batch,
                                        nq: nq, nk: nk, shared: i == 0 ? ctx.shared : nil)
            }
        }
        // Only mask token 0 (row 1 of each prompt's tokens) is read after the final attention, so
        // it alone attends to the image, its norm applied, then hypernetwork 0 -> [B, 32].
        Profile.stage = "fin "
        var maskToken = Tensor(uninitialized: [batch, 256]), query = Tensor(uninitialized: [batch, 256])
        for b in 0..<batch {
            for c in 0..<256 {
                let v = queries.data[(b * nq + 1) * 256 + c]
                maskToken.data[b * 256 + c] = v
                query.data[b * 256 + c] = v + tokens.data[(b * nq + 1) * 256 + c]
            }
        }
        maskToken = added(maskToken, transformer.finalAttnTokenToImage.singleQuery(query, keys: keys, keyPE: densePE, batch: batch, nk: nk))
        transformer.normFinalAttn.apply(&maskToken)
        let hyper = hypernetworks[0](maskToken)

        Profile.stage = "up "
        // The embedding pixels whose 4x4 blocks of logits are wanted.
        let (eh, ew) = within.map { (min(64, max(1, ($0.height + 3) / 4)), min(64, max(1, ($0.width + 3) / 4))) } ?? (64, 64)
        var out = Tensor(zeros: [batch, 256, 256])
        if (eh, ew) != (64, 64) { out.data.withUnsafeMutableBufferPointer { $0.update(repeating: -.infinity) } }
        for b in 0..<batch {
            // The prompt's keys (rows b*nk..<(b+1)*nk, a 64x64 map), read in place when whole.
            var u = if ew == 64 {
                upscale0(keys, rows: (b * nk)..<(b * nk + eh * 64), height: eh, width: 64)   // [2eh, 128, 64]
            } else {
                upscale0(Self.columns(keys, from: b * nk, height: eh, width: ew), rows: 0..<(eh * ew), height: eh, width: ew)
            }
            upscale1.apply(&u)
            Activations.gelu(&u.data)
            var u2 = upscale3(u)                // [4eh, 4ew, 32]
            Activations.gelu(&u2.data)
            // masks = hyper_in @ upscaled: one 32-vector dotted with every pixel, into the
            // 4ew-wide top-left part of the 256-wide logits.
            let (oh, ow) = (4 * eh, 4 * ew)
            var masks = ow == 256 ? [] : [Float](repeating: 0, count: oh * ow)
            out.data.withUnsafeMutableBufferPointer { o in u2.data.withUnsafeBufferPointer { up in
                hyper.data.withUnsafeBufferPointer { hp in
                    masks.withUnsafeMutableBufferPointer { m in
                        let dst = o.baseAddress! + b * 65536
                        Gemm.sgemm(m: oh * ow, n: 1, k: 32, a: up.baseAddress!, lda: 32, b: hp.baseAddress! + b * 32, ldb: 32,
                                   transB: true, c: ow == 256 ? dst : m.baseAddress!, ldc: 1)
                        if ow < 256 { for y in 0..<oh { (dst + y * 256).update(from: m.baseAddress! + y * ow, count: ow) } }
                    }
                }
            } }
        }
        return out
    }

    /// The top-left height x width pixels of the 64x64 map held by rows `from`..<`from` + 4096 of x.
    static func columns(_ x: Tensor, from: Int, height: Int, width: Int) -> Tensor {
        let c = x.lastDim
        var t = Tensor(uninitialized: [height * width, c])
        x.data.withUnsafeBufferPointer { xp in
            t.data.withUnsafeMutableBufferPointer { tp in
                for y in 0..<height {
                    (tp.baseAddress! + y * width * c).update(from: xp.baseAddress! + (from + y * 64) * c, count: width * c)
                }
            }
        }
        return t
    }
}
