// Runs a 3D case's steps (StackSchedule) on several workers, each a whole single-threaded engine
// (Parallel.alone): while one worker decodes a step, the others encode the coming slices the
// cache does not hold. Two slices side by side on one thread each run at least as fast as one
// slice on two threads (an encoder pass scales 1.8-1.95x over two threads here), single-box
// decodes scale only about 1.6x, and the decodes no longer wait for the next encode
// (docs/DECISIONS.md, "One slice per worker in 3D cases").
import Dispatch

enum StackRunner {
    /// Calls `decode(k, embedding of zs[k])` for every step k. Decodes start in step order; with
    /// `ordered`, each waits until the one before it has finished (propagation reads the masks
    /// of the step before). Free workers encode ahead: the first slices of the coming steps
    /// that are neither held here nor `cached` (those `encode` serves from the cache when their
    /// step comes), at most `lookahead` held or being encoded at once. So while the steps of
    /// slices encoded before (propagation's down sweep over the up sweep's slices) are
    /// decoded, the other workers encode the first slices past them. Once `stop()` answers
    /// true, no encode or decode starts; those running finish, and `run` returns.
    static func run(zs: [Int], ordered: Bool, workers: Int, lookahead: Int, cached: (Int) -> Bool,
                    encode: (Int) -> EncodedSlice, decode: (Int, EncodedSlice) -> Void, stop: () -> Bool = { false }) {
        let state = Monitor()
        var next = 0, decoding = 0, finished = 0
        var ready: [Int: EncodedSlice] = [:], pending: Set<Int> = []
        let limit = max(1, lookahead)

        func work() {
            state.lock()
            defer { state.unlock() }
            // A worker waits only while another runs an encode or decode, which broadcasts when
            // it ends: so every waiting worker sees the stop soon after it is asked for.
            while finished < zs.count && !stop() {
                let z = next < zs.count && (!ordered || decoding == 0) ? zs[next] : nil
                let decodable = z.map { !pending.contains($0) } ?? false
                if let z, decodable, ready[z] != nil || cached(z) || ready.count + pending.count >= limit {
                    // The next step's slice is at hand (or, when encodes ahead fill the limit,
                    // this worker encodes it itself).
                    let k = next
                    next += 1
                    decoding += 1
                    let held = ready[z]
                    state.unlock()
                    decode(k, held ?? encode(z))
                    state.lock()
                    decoding -= 1
                    finished += 1
                    // Hold an embedding only while one of the next few steps still needs it.
                    if !zs[next..<min(zs.count, next + limit)].contains(z) { ready[z] = nil }
                    state.broadcast()
                } else if ready.count + pending.count < limit,
                          let ahead = zs[next...].first(where: { ready[$0] == nil && !pending.contains($0) && !cached($0) }) {
                    pending.insert(ahead)
                    state.unlock()
                    let slice = encode(ahead)
                    state.lock()
                    pending.remove(ahead)
                    ready[ahead] = slice
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
