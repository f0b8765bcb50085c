// bfloat16 matrix products for the layers int8 would spoil (docs/DECISIONS.md, "bf16 for the
// int8-sensitive layers"): inputs and weights rounded to bf16 (8-bit mantissa, float's range),
// products accumulated in float by oneDNN's matmul, about twice the fp32 rate on CPUs with
// AVX-512 BF16. One primitive per layer, built once for any number of rows.
import CDnnl

/// A linear layer's weights in bf16, with the oneDNN matmul that multiplies by them.
public final class Bf16Weights: @unchecked Sendable {
    public let values: [UInt16]   // [out][in], bf16 bit patterns
    public let outFeatures: Int
    public let inFeatures: Int
    private let matmul: DnnlMatmul
    private let weightsDesc: dnnl_memory_desc_t   // [K, N] as our [N][K] ("ba")

    /// nil when oneDNN cannot build the product here (the layer then stays fp32).
    public init?(weight: [Float], outFeatures n: Int, inFeatures k: Int) {
        values = weight.map(Bf16.round)
        outFeatures = n
        inFeatures = k
        // src [M, K] rows, weights [K, N] stored as our [N][K], dst [M, N] with any row stride;
        // M and the dst row stride are given at each call.
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        guard dnnl_memory_desc_init_by_tag(&src, 2, [Bf16.runtime, Int64(k)], dnnl_bf16, dnnl_ab) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&wei, 2, [Int64(k), Int64(n)], dnnl_bf16, dnnl_ba) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&dst, 2, [Bf16.runtime, Int64(n)], dnnl_f32, [Bf16.runtime, 1]) == dnnl_success,
              let matmul = DnnlMatmul(src: src, weights: wei, dst: dst) else { return nil }
        self.matmul = matmul
        weightsDesc = wei
    }

    /// out[m][n] = sum_k x[m][k] * values[n][k] in float, for `count` bf16 rows of `inFeatures`;
    /// out rows are `ldOut` apart. Single-threaded (runs on the engine's workers).
    func product(_ x: UnsafePointer<UInt16>, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int) {
        guard count > 0 else { return }
        var srcMD = dnnl_memory_desc_t(), dstMD = dnnl_memory_desc_t()
        let m = Int64(count), k = Int64(inFeatures), n = Int64(outFeatures)
        _ = dnnl_memory_desc_init_by_tag(&srcMD, 2, [m, k], dnnl_bf16, dnnl_ab)
        _ = dnnl_memory_desc_init_by_strides(&dstMD, 2, [m, n], dnnl_f32, [Int64(ldOut), 1])
        values.withUnsafeBufferPointer { w in
            matmul.run(src: (srcMD, UnsafeRawPointer(x)), weights: (weightsDesc, UnsafeRawPointer(w.baseAddress!)), dst: (dstMD, UnsafeMutableRawPointer(out)))
        }
    }
}

/// One bf16 matrix product of fixed shape with both operands given at each call:
/// C[m][n] = A[m][k] · B[k][n] in float, A stored [m][k] (or [k][m] when `aTransposed`), B
/// stored [k][n] (or [n][k] when `bTransposed`), C row-major [m][n]. A transposed A's columns
/// are `lda` apart (m by default).
final class Bf16Product: @unchecked Sendable {
    private let matmul: DnnlMatmul
    private let descs: (a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t)

    /// nil where oneDNN cannot build it (no bf16 on this CPU: the caller stays in float).
    init?(m: Int, n: Int, k: Int, aTransposed: Bool, bTransposed: Bool, lda: Int? = nil) {
        guard CPUFeatures.bf16 else { return nil }
        let (m64, n64, k64) = (Int64(m), Int64(n), Int64(k))
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        guard dnnl_memory_desc_init_by_strides(&a, 2, [m64, k64], dnnl_bf16, aTransposed ? [1, Int64(lda ?? m)] : [k64, 1]) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&b, 2, [k64, n64], dnnl_bf16, bTransposed ? [1, k64] : [n64, 1]) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&c, 2, [m64, n64], dnnl_f32, [n64, 1]) == dnnl_success,
              let matmul = DnnlMatmul(src: a, weights: b, dst: c) else { return nil }
        self.matmul = matmul
        descs = (a, b, c)
    }

    /// Single-threaded (runs on the engine's workers).
    func callAsFunction(_ a: UnsafePointer<UInt16>, _ b: UnsafePointer<UInt16>, _ c: UnsafeMutablePointer<Float>) {
        matmul.run(src: (descs.a, UnsafeRawPointer(a)), weights: (descs.b, UnsafeRawPointer(b)), dst: (descs.c, UnsafeMutableRawPointer(c)))
    }
}

public enum Bf16 {
    static let runtime = Int64.min   // DNNL_RUNTIME_DIM_VAL

    /// Round to nearest even, to the upper 16 bits of the float (NaN stays NaN, as a quiet one).
    @inline(__always) public static func round(_ x: Float) -> UInt16 {
        x.isNaN ? UInt16(truncatingIfNeeded: x.bitPattern >> 16) | 0x40 : roundFinite(x)
    }

    /// `round` without the NaN test: branch-free, so loops over it vectorise.
    @inline(__always) static func roundFinite(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        return UInt16(truncatingIfNeeded: (b &+ 0x7fff &+ ((b >> 16) & 1)) >> 16)
    }

    @inline(__always) public static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// `roundFinite` of `count` floats: a plain loop, which the compiler turns into 16-lane
    /// rounding and narrowing (Swift's SIMD16<UInt16>(truncatingIfNeeded:) is a generic call
    /// per vector, measured several times slower).
    @inline(__always) static func round(_ src: UnsafePointer<Float>, count: Int, to dst: UnsafeMutablePointer<UInt16>) {
        for j in 0..<count { dst[j] = roundFinite(src[j]) }
    }

    /// round(geluFast(x)) of `count` floats: a GELU whose output a bf16 product reads next,
    /// in one pass.
    static func geluRounded(_ src: UnsafePointer<Float>, count: Int, to dst: UnsafeMutablePointer<UInt16>) {
        for j in 0..<count { dst[j] = roundFinite(Activations.geluFast(src[j])) }
    }

    /// Rounds `count` rows of `k` floats (`ldx` apart) into packed bf16 rows.
    static func convertRows(_ x: UnsafePointer<Float>, count: Int, k: Int, ldx: Int, to out: UnsafeMutablePointer<UInt16>) {
        // The engine's activations are finite.
        for r in 0..<count { round(x + r * ldx, count: k, to: out + r * k) }
    }
}

extension Linear {
    /// The bf16 twin of `rows`: out[r] = epilogue(residual[r] + bf16(x[r]) · bf16(W)^T + b).
    func bf16Rows(_ w: Bf16Weights, _ x: UnsafePointer<Float>, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
                  residual: UnsafePointer<Float>?, epilogue: Epilogue) {
        let k = inFeatures
        let codes = UnsafeMutablePointer<UInt16>.allocate(capacity: count * k)
        defer { codes.deallocate() }
        Bf16.convertRows(x, count: count, k: k, ldx: k, to: codes)
        bf16Rows(w, codes: codes, count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue)
    }

    /// `bf16Rows` of inputs already rounded to bf16 (`count` packed rows of `inFeatures`).
    func bf16Rows(_ w: Bf16Weights, codes: UnsafePointer<UInt16>, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
                  residual: UnsafePointer<Float>?, epilogue: Epilogue) {
        w.product(codes, count: count, out: out, ldOut: ldOut)
        finishRows(count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue)
    }

    /// The plain twin of the bf16 path: inputs and weights rounded to bf16, products in Double.
    public func bf16Reference(_ x: Tensor) -> Tensor {
        let k = inFeatures, n = outFeatures
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [n])
        let wq = weight.map { Double(Bf16.float(Bf16.round($0))) }
        for r in 0..<x.rows {
            let xq = (0..<k).map { Double(Bf16.float(Bf16.round(x.data[r * k + $0]))) }
            for o in 0..<n {
                var s = Double(bias?[o] ?? 0)
                for i in 0..<k { s += xq[i] * wq[o * k + i] }
                y.data[r * n + o] = Float(s)
            }
        }
        return y
    }
}
