// Engine-wide settings.
#if canImport(Glibc)
import Glibc
#endif

public enum Engine {
    /// Threads for the engine's loops and for the BLAS.
    public static func configure(threads: Int) {
        Parallel.threads = max(1, threads)
        Gemm.setThreads(max(1, threads))
        #if canImport(Glibc)
        // Activations are tens of MB each. glibc would mmap and unmap every one, so each run
        // page-faults and zeroes them anew; keeping big blocks on the heap lets them be reused.
        _ = c_mallopt(-3, 1 << 30)  // M_MMAP_THRESHOLD
        _ = c_mallopt(-1, 1 << 30)  // M_TRIM_THRESHOLD
        #endif
    }
}

/// glibc's mallopt (malloc.h is not part of Swift's Glibc module).
@_silgen_name("mallopt")
func c_mallopt(_ param: Int32, _ value: Int32) -> Int32
