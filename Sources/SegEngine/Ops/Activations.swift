// Elementwise activations and softmax. GELU is the exact (erf) form PyTorch's nn.GELU uses.
#if canImport(Glibc)
import Glibc
#endif

public enum Activations {
    /// Exact GELU, x * Phi(x), in place.
    public static func gelu(_ x: inout [Float]) {
        x.withUnsafeMutableBufferPointer { p in
            Parallel.chunks(p.count) { r in
                for i in r { p[i] = geluScalar(p[i]) }
            }
        }
    }

    /// The reference: 0.5 x (1 + erf(x / sqrt 2)) in Double.
    public static func geluReference(_ x: Float) -> Float {
        let d = Double(x)
        return Float(0.5 * d * (1 + erf(d / 2.0.squareRoot())))
    }

    @inline(__always) static func geluScalar(_ x: Float) -> Float {
        0.5 * x * (1 + erff(x * 0.70710678118654752))
    }

    public static func relu(_ x: inout [Float]) {
        x.withUnsafeMutableBufferPointer { p in
            Parallel.chunks(p.count) { r in for i in r where p[i] < 0 { p[i] = 0 } }
        }
    }

    /// Softmax over each row of a [rows, n] matrix stored at `p`, in place (max-subtracted).
    public static func softmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            let row = p + r * n
            var m = -Float.infinity
            for j in 0..<n where row[j] > m { m = row[j] }
            var s: Float = 0
            for j in 0..<n { let e = expf(row[j] - m); row[j] = e; s += e }
            let inv = 1 / s
            for j in 0..<n { row[j] *= inv }
        }
    }
}
