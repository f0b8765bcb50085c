// Runs a 3D case's steps (StackSchedule) on several workers, each a whole single-threaded engine
// (Parallel.alone): while one worker decodes a step, the others encode the slices of the next
// few steps. Two slices encoded side by side on one thread each beat one slice on two threads
// (one encoder pass scales about 1.8x over two threads, single-box decodes about 1.6x), and the
// decodes no longer wait for the next encode (docs/DECISIONS.md, "One slice per worker").
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

enum StackRunner {
    /// Calls `decode(k, embedding of zs[k])` for every step k. Decodes start in step order; with
    /// `ordered`, each waits until the one before it has finished (propagation reads the masks
    /// of the step before). `encode(z)` runs at most `lookahead` steps ahead of the decodes, so
    /// at most about `lookahead + workers` embeddings are held here at once.
    static func run(zs: [Int], ordered: Bool, workers: Int, lookahead: Int,
                    encode: (Int) -> EncodedSlice, decode: (Int, EncodedSlice) -> Void) {
        let state = Monitor()
        var next = 0, decoding = 0, finished = 0
        var ready: [Int: EncodedSlice] = [:], pending: Set<Int> = []
        let window = max(1, lookahead)

        func work() {
            state.lock()
            defer { state.unlock() }
            while finished < zs.count {
                if next < zs.count, !ordered || decoding == 0, let slice = ready[zs[next]] {
                    let k = next
                    next += 1
                    decoding += 1
                    state.unlock()
                    decode(k, slice)
                    state.lock()
                    decoding -= 1
                    finished += 1
                    // Hold an embedding only while a step within the window still needs it.
                    if !zs[next..<min(zs.count, next + window)].contains(zs[k]) { ready[zs[k]] = nil }
                    state.broadcast()
                } else if let z = zs[next..<min(zs.count, next + window)].first(where: { ready[$0] == nil && !pending.contains($0) }) {
                    pending.insert(z)
                    state.unlock()
                    let slice = encode(z)
                    state.lock()
                    pending.remove(z)
                    ready[z] = slice
                    state.broadcast()
                } else {
                    // Another worker is encoding the slice the next step needs, or (ordered)
                    // decoding the step before it; it broadcasts when done.
                    state.wait()
                }
            }
        }
        let n = max(1, min(workers, zs.count))
        if n == 1 {
            Parallel.alone(work)
        } else {
            DispatchQueue.concurrentPerform(iterations: n) { _ in Parallel.alone(work) }
        }
    }
}

/// A pthread mutex with one condition variable (Foundation-free).
final class Monitor: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }
    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
    /// Releases the lock until another thread broadcasts, then holds it again.
    func wait() { pthread_cond_wait(&condition, &mutex) }
    func broadcast() { pthread_cond_broadcast(&condition) }
}
