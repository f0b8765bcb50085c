// Splitting elementwise work across threads. Matrix products thread inside the BLAS.
import Dispatch

public enum Parallel {
    /// Worker threads for the engine's own loops (the BLAS gets the same number).
    nonisolated(unsafe) public static var threads = 2

    /// Calls `body(range)` on disjoint chunks covering 0..<count, in parallel when worthwhile.
    public static func chunks(_ count: Int, minChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, max(1, count / max(minChunk, 1)))
        if parts <= 1 { body(0..<count); return }
        let step = (count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = p * step, hi = min(count, lo + step)
            if lo < hi { body(lo..<hi) }
        }
    }
}
