// Elementwise activations and softmax. GELU is the exact (erf) form PyTorch's nn.GELU uses.
#if canImport(Glibc)
import Glibc
#endif

public enum Activations {
    /// Exact GELU, x * Phi(x), in place.
    public static func gelu(_ x: inout [Float]) {
        Profile.measure("gelu") { geluInPlace(&x) }
    }

    static func geluInPlace(_ x: inout [Float]) {
        x.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            Parallel.chunks(p.count, minChunk: 1 << 15) { r in
                // A plain loop of polynomial arithmetic: the compiler vectorises it.
                for i in r { base[i] = geluScalar(base[i]) }
            }
        }
    }

    /// erf by Eigen's rational approximation (generic_fast_erf_float): exact to a few ulp in
    /// single precision, polynomials only, so loops over it vectorise. Horner steps are fused
    /// multiply-adds (`addingProduct`): half the instructions of separate ones, and rounded once.
    @inline(__always) static func erfApprox(_ a: Float) -> Float {
        let x = min(max(a, -4), 4)
        let x2 = x * x
        var p = Float(2.77068142495902e-08).addingProduct(x2, Float(-2.72614225801306e-10))
        p = Float(-2.10102402082508e-06).addingProduct(x2, p)
        p = Float(-5.69250639462346e-05).addingProduct(x2, p)
        p = Float(-7.34990630326855e-04).addingProduct(x2, p)
        p = Float(-2.95459980854025e-03).addingProduct(x2, p)
        p = Float(-1.60960333262415e-02).addingProduct(x2, p)
        p = x * p
        var q = Float(-2.13374055278905e-04).addingProduct(x2, Float(-1.45660718464996e-05))
        q = Float(-1.68282697438203e-03).addingProduct(x2, q)
        q = Float(-7.37332916720468e-03).addingProduct(x2, q)
        q = Float(-1.42647390514189e-02).addingProduct(x2, q)
        return p / q
    }

    /// x/2 + x/2 * erf(x / sqrt 2).
    @inline(__always) static func geluScalar(_ x: Float) -> Float {
        let h = 0.5 * x
        return h.addingProduct(h, erfApprox(x * 0.70710678118654752))
    }

    /// GELU by a shorter rational erf (numerator and denominator of degree 7 and 8, fitted to
    /// GELU's absolute error by tools/fixtures/fit_fast_gelu.py): within 1e-5 of the exact
    /// GELU everywhere, with three fewer multiply-adds. For the int8 engine's low-precision
    /// layers, whose GELU outputs are rounded to bf16 or int8 next (steps of 4e-3 and more).
    @inline(__always) static func geluFast(_ x: Float) -> Float {
        let t = min(max(x * 0.70710678118654752, -4), 4)
        let t2 = t * t
        var p = Float(0.052869125596132535).addingProduct(t2, Float(0.0018611515589952666))
        p = Float(0.1668876167015456).addingProduct(t2, p)
        p = Float(1.1285248816693747).addingProduct(t2, p)
        var q = Float(0.014053443333992893).addingProduct(t2, Float(9.80096782888229e-05))
        q = Float(0.10596528498877814).addingProduct(t2, q)
        q = Float(0.4820499127621808).addingProduct(t2, q)
        q = Float(1).addingProduct(t2, q)
        let h = 0.5 * x
        return h.addingProduct(h, t * p / q)
    }

    /// The reference: 0.5 x (1 + erf(x / sqrt 2)) in Double.
    public static func geluReference(_ x: Float) -> Float {
        let d = Double(x)
        return Float(0.5 * d * (1 + erf(d / 2.0.squareRoot())))
    }

    public static func relu(_ x: inout [Float]) {
        x.withUnsafeMutableBufferPointer { p in
            Parallel.chunks(p.count) { r in for i in r where p[i] < 0 { p[i] = 0 } }
        }
    }

    /// exp(x) for x <= 0 (softmax after max subtraction) as 2^n * 2^f with a degree-6
    /// polynomial for 2^f: plain arithmetic, so loops over it vectorise. Relative error < 1e-5
    /// (most of it from rounding x * log2(e) in float near -87; about 2e-7 near 0);
    /// inputs below -87 give ~1e-38 instead of a denormal.
    @inline(__always) public static func expNonPositive(_ x: Float) -> Float {
        let t = max(x, -87.3) * 1.44269504088896341
        let n = t.rounded(.down)
        let f = t - n
        var p: Float = Float(1.339887440266574e-3).addingProduct(1.535336188319500e-4, f)
        p = Float(9.618437357674640e-3).addingProduct(p, f)
        p = Float(5.550332471162809e-2).addingProduct(p, f)
        p = Float(2.402264791363012e-1).addingProduct(p, f)
        p = Float(6.931472028550421e-1).addingProduct(p, f)
        p = Float(1.0).addingProduct(p, f)
        // 2^n from n's bits: adding 1.5 * 2^23 leaves n (an integer in -127...0) in the low
        // mantissa bits; wrapping integer steps, no trapping conversion, so loops vectorise.
        let bits = (n + 12_582_912).bitPattern &- 0x4B40_0000 &+ 127
        return p * Float(bitPattern: bits << 23)
    }

    /// `expNonPositive` on 16 lanes (the same steps, so the same results).
    @inline(__always) static func expNonPositive(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var t = x
        t.replace(with: -87.3, where: t .< -87.3)
        t *= 1.44269504088896341
        let n = t.rounded(.down)
        let f = t - n
        var p = SIMD16<Float>(repeating: 1.339887440266574e-3).addingProduct(SIMD16(repeating: 1.535336188319500e-4), f)
        p = SIMD16(repeating: 9.618437357674640e-3).addingProduct(p, f)
        p = SIMD16(repeating: 5.550332471162809e-2).addingProduct(p, f)
        p = SIMD16(repeating: 2.402264791363012e-1).addingProduct(p, f)
        p = SIMD16(repeating: 6.931472028550421e-1).addingProduct(p, f)
        p = SIMD16(repeating: 1.0).addingProduct(p, f)
        let bits = unsafeBitCast(n + 12_582_912, to: SIMD16<UInt32>.self) &- 0x4B40_0000 &+ 127
        return p * unsafeBitCast(bits &<< 23, to: SIMD16<Float>.self)
    }

    /// Softmax over each row of a [rows, n] matrix stored at `p`, in place (max-subtracted).
    public static func softmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows { softmaxRow(p + r * n, n) }
    }

    /// Softmax of `n` values in place: integer max over order-preserving keys, vectorised exp,
    /// eight-lane sum (each pass vectorises; float max and sum chains do not).
    @inline(__always) public static func softmaxRow(_ row: UnsafeMutablePointer<Float>, _ n: Int) {
        var key = Int32.min
        for j in 0..<n {
            let i = Int32(bitPattern: row[j].bitPattern)
            key = Swift.max(key, i ^ ((i >> 31) & 0x7fff_ffff))
        }
        let m = Float(bitPattern: UInt32(bitPattern: key ^ ((key >> 31) & 0x7fff_ffff)))
        for j in 0..<n { row[j] = expNonPositive(row[j] - m) }
        var acc = SIMD8<Float>(), j = 0
        while j + 8 <= n { acc += UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self); j += 8 }
        var s = acc.sum()
        while j < n { s += row[j]; j += 1 }
        let inv = 1 / s
        for j in 0..<n { row[j] *= inv }
    }
}

