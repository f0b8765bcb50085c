// The prompt encoder (`prompt_encoder`, segment_anything/modeling/prompt_encoder.py) for box
// prompts: random-Fourier positional encoding of the two corners plus learned corner embeddings.
// The dense prompt is `no_mask_embed` everywhere (medseg gives no mask prompts).
#if canImport(Glibc)
import Glibc
#endif

public struct PromptEncoder {
    let gaussian: [Float]        // pe_layer.positional_encoding_gaussian_matrix [2, 128]
    let pointEmbeddings: [[Float]]   // point_embeddings.{0..3}.weight [1, 256]; 2, 3 = box corners
    let noMaskEmbed: [Float]     // no_mask_embed.weight [1, 256]
    let notAPointEmbed: [Float]  // not_a_point_embed.weight [1, 256] (points only; loaded for strictness)
    public static let embedDim = 256

    public init(_ s: WeightScope) throws {
        gaussian = try s.scope("pe_layer")("positional_encoding_gaussian_matrix", [2, 128])
        pointEmbeddings = try (0..<4).map { try s.scope("point_embeddings").scope($0)("weight", [1, 256]) }
        noMaskEmbed = try s.scope("no_mask_embed")("weight", [1, 256])
        notAPointEmbed = try s.scope("not_a_point_embed")("weight", [1, 256])
    }

    /// `_pe_encoding`: coords in [0,1]^2 -> [sin(2pi (2c-1) G), cos(...)], 256 values.
    func encode(x: Float, y: Float, into out: UnsafeMutablePointer<Float>) {
        let cx = 2 * x - 1, cy = 2 * y - 1
        for j in 0..<128 {
            let v = 2 * Float.pi * (cx * gaussian[j] + cy * gaussian[128 + j])
            out[j] = sinf(v)
            out[128 + j] = cosf(v)
        }
    }

    /// Sparse embeddings of boxes given in 256-model pixels [x0, y0, x1, y1]: [B*2, 256].
    public func embedBoxes(_ boxes: [[Float]]) -> Tensor {
        var t = Tensor(zeros: [boxes.count * 2, Self.embedDim])
        t.data.withUnsafeMutableBufferPointer { p in
            for (b, box) in boxes.enumerated() {
                for corner in 0..<2 {
                    let row = p.baseAddress! + (b * 2 + corner) * 256
                    encode(x: (box[2 * corner] + 0.5) / 256, y: (box[2 * corner + 1] + 0.5) / 256, into: row)
                    let e = pointEmbeddings[2 + corner]
                    for j in 0..<256 { row[j] += e[j] }
                }
            }
        }
        return t
    }

    /// `get_dense_pe`: the encoding at the centres of the 64x64 embedding cells, [4096, 256].
    public func densePE(size: Int = 64) -> Tensor {
        var t = Tensor(zeros: [size * size, Self.embedDim])
        t.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<size { for j in 0..<size {
                encode(x: (Float(j) + 0.5) / Float(size), y: (Float(i) + 0.5) / Float(size),
                       into: p.baseAddress! + (i * size + j) * 256)
            } }
        }
        return t
    }
}
