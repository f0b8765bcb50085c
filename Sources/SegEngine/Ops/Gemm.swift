// Matrix products: the one place the engine calls a BLAS. oneDNN's sgemm measured faster than
// OpenBLAS on this machine's shapes (docs/DECISIONS.md); the choice sits behind `Gemm.backend`.
import CDnnl
import COpenBLAS

/// Which BLAS runs float matrix products.
public enum GemmBackend: String, Sendable, CaseIterable {
    case dnnl, openblas, reference
}

public enum Gemm {
    /// The backend used by `sgemm` (dnnl unless changed, e.g. by tests comparing backends).
    nonisolated(unsafe) public static var backend: GemmBackend = .dnnl

    /// Sets the number of threads both BLAS libraries use.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(n))
        setenv("OMP_NUM_THREADS", String(n), 1)
        omp_set_num_threads(Int32(n))
    }

    /// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, all row-major.
    /// `transB` means B is stored [n,k] (PyTorch's Linear weight layout).
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
                             b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                             c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float = 1, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        switch backend {
        case .dnnl:
            _ = dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                           a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        case .openblas:
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        case .reference:
            referenceSgemm(m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB,
                           c: c, ldc: ldc, alpha: alpha, beta: beta)
        }
    }

    /// The plain twin: a triple loop in Double, for tests of the fast backends.
    public static func referenceSgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool,
                                      b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                                      c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * s + old)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
