// Splitting elementwise work across threads. Matrix products thread inside the BLAS.
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

public enum Parallel {
    /// Worker threads for the engine's own loops and products; 1 on a thread inside `alone`.
    public static var threads: Int {
        get { pthread_getspecific(aloneKey) == nil ? shared : 1 }
        set { shared = newValue }
    }
    nonisolated(unsafe) private static var shared = 2
    private static let aloneKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-specific key left")
        return key
    }()

    /// Runs `body` with every engine loop and product it starts kept on this thread, so several
    /// threads can each run a whole model pass at once (StackRunner: one slice per worker).
    public static func alone<T>(_ body: () throws -> T) rethrows -> T {
        let old = pthread_getspecific(aloneKey)
        pthread_setspecific(aloneKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(aloneKey, old) }
        return try body()
    }

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

    /// Calls `body(job, scratch)` for every job in 0..<costs.count. Jobs go to the workers
    /// largest first, each to the least loaded so far, so uneven jobs still keep every worker
    /// busy; each worker has its own `scratchFloats`-float scratch buffer.
    public static func balanced(costs: [Int], scratchFloats: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let workers = min(threads, max(1, costs.count))
        var queues = [[Int]](repeating: [], count: workers), load = [Int](repeating: 0, count: workers)
        for job in costs.indices.sorted(by: { costs[$0] > costs[$1] }) {
            let p = load.indices.min { load[$0] < load[$1] }!
            queues[p].append(job)
            load[p] += costs[job]
        }
        func work(_ p: Int) {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
            defer { scratch.deallocate() }
            for job in queues[p] { body(job, scratch) }
        }
        if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
    }
}
