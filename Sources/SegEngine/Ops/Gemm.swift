// Matrix products: the one place the engine calls a BLAS. oneDNN's sgemm measured faster than
// OpenBLAS on this machine's shapes (docs/DECISIONS.md); the choice sits behind `Gemm.backend`.
import CDnnl
import COpenBLAS
import Dispatch

/// Which BLAS runs float matrix products.
public enum GemmBackend: String, Sendable, CaseIterable {
    case dnnl, openblas, reference
}

public enum Gemm {
    /// The backend used by `sgemm` (dnnl unless changed, e.g. by tests comparing backends).
    nonisolated(unsafe) public static var backend: GemmBackend = .dnnl

    /// The BLAS libraries run single-threaded; `sgemm` splits work across the engine's own
    /// workers instead, so only one thread pool exists (no OpenMP threads spinning against ours).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(1)
        omp_set_num_threads(1)
    }

    /// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, all row-major.
    /// `transB` means B is stored [n,k] (PyTorch's Linear weight layout).
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
                             b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                             c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float = 1, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        let threads = Parallel.threads
        let flops = Double(m) * Double(n) * Double(k)
        if threads > 1 && flops > 2e6 && m >= 32 * threads {
            // Rows split across workers.
            let step = (m + threads - 1) / threads
            DispatchQueue.concurrentPerform(iterations: threads) { p in
                let r0 = p * step, rows = min(step, m - r0)
                guard rows > 0 else { return }
                omp_set_num_threads(1)
                single(m: rows, n: n, k: k, a: a + (transA ? r0 : r0 * lda), lda: lda, transA: transA, b: b, ldb: ldb,
                       transB: transB, c: c + r0 * ldc, ldc: ldc, alpha: alpha, beta: beta)
            }
        } else if threads > 1 && flops > 2e6 && n >= 32 * threads {
            // Columns split across workers.
            let step = ((n + threads - 1) / threads + 7) & ~7
            DispatchQueue.concurrentPerform(iterations: threads) { p in
                let c0 = p * step, cols = min(step, n - c0)
                guard cols > 0 else { return }
                omp_set_num_threads(1)
                single(m: m, n: cols, k: k, a: a, lda: lda, transA: transA, b: b + (transB ? c0 * ldb : c0), ldb: ldb,
                       transB: transB, c: c + c0, ldc: ldc, alpha: alpha, beta: beta)
            }
        } else {
            omp_set_num_threads(1)
            single(m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB,
                   c: c, ldc: ldc, alpha: alpha, beta: beta)
        }
    }

    /// One single-threaded call of the chosen backend.
    static func single(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool,
                       b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                       c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        switch backend {
        case .dnnl:
            omp_set_num_threads(1)   // this runs on our workers; no nested OpenMP team
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
