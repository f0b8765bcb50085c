// Scaled dot-product attention for one head over small token sets, with an optional additive
// bias matrix. Used by TinyViT's window attention and SAM's two-way transformer.
#if canImport(Glibc)
import Glibc
#endif

public enum AttentionKernel {
    /// out[i] = sum_j softmax_j(scale * q[i].k[j] + bias[i, j]) v[j], for i < nq, j < nk.
    /// Rows of q, k, v and out are `d` floats apart from their bases by the given strides.
    public static func run(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                           v: UnsafePointer<Float>, vStride: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
                           nq: Int, nk: Int, d: Int, scale: Float, bias: UnsafePointer<Float>? = nil,
                           scratch: UnsafeMutablePointer<Float>) {
        let s = scratch  // nk floats
        for i in 0..<nq {
            let qi = q + i * qStride
            var m = -Float.infinity
            for j in 0..<nk {
                let kj = k + j * kStride
                var dot: Float = 0
                for t in 0..<d { dot += qi[t] * kj[t] }
                var x = dot * scale
                if let bias { x += bias[i * nk + j] }
                s[j] = x
                if x > m { m = x }
            }
            var sum: Float = 0
            for j in 0..<nk { let e = expf(s[j] - m); s[j] = e; sum += e }
            let inv = 1 / sum
            let oi = out + i * outStride
            for t in 0..<d { oi[t] = 0 }
            for j in 0..<nk {
                let p = s[j] * inv, vj = v + j * vStride
                for t in 0..<d { oi[t] += p * vj[t] }
            }
        }
    }

    /// The plain twin, in Double, on arrays.
    public static func reference(q: [Float], k: [Float], v: [Float], nq: Int, nk: Int, d: Int,
                                 scale: Float, bias: [Float]?) -> [Float] {
        var out = [Float](repeating: 0, count: nq * d)
        for i in 0..<nq {
            var logits = (0..<nk).map { j -> Double in
                var dot = 0.0
                for t in 0..<d { dot += Double(q[i * d + t]) * Double(k[j * d + t]) }
                return dot * Double(scale) + Double(bias?[i * nk + j] ?? 0)
            }
            let m = logits.max()!
            logits = logits.map { exp($0 - m) }
            let z = logits.reduce(0, +)
            for t in 0..<d {
                var acc = 0.0
                for j in 0..<nk { acc += logits[j] / z * Double(v[j * d + t]) }
                out[i * d + t] = Float(acc)
            }
        }
        return out
    }
}
