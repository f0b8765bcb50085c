// How far a 3D segmentation has come, and a fair estimate of the time it still needs.

/// Steps of a 3D segmentation: decodes (one per object and slice when propagating, one per
/// slice otherwise) and slice encodes, with the time each kind has taken so far. A slice is
/// encoded once for all the objects on it, and an encode costs 10-20 decodes, so the first
/// object of a case takes most of the time: an estimate from the share of decodes alone came
/// out 4x too long early in the demo case. `secondsLeft` weighs what is left of each kind by
/// its own measured cost.
public struct StackProgress: Sendable, Equatable {
    /// Decodes done and in all (what the progress line counts).
    public var done = 0, total = 0
    /// Slices encoded so far and slices to encode in all (those not in the cache at the start).
    public var encoded = 0, toEncode = 0
    /// Seconds the encodes and the decodes took so far, summed over the workers.
    public var encodeSeconds = 0.0, decodeSeconds = 0.0

    public init(done: Int = 0, total: Int = 0, encoded: Int = 0, toEncode: Int = 0,
                encodeSeconds: Double = 0, decodeSeconds: Double = 0) {
        (self.done, self.total, self.encoded, self.toEncode) = (done, total, encoded, toEncode)
        (self.encodeSeconds, self.decodeSeconds) = (encodeSeconds, decodeSeconds)
    }

    /// Wall seconds left at the pace so far (`elapsed` wall seconds since the start), nil before
    /// the first decode, while encodes are left but none has been timed yet (slices served from
    /// the cache first), and once all are done. `moreEncodes` and `moreDecodes` are work queued
    /// after this run (other objects' slices), costed at this run's pace; `encodePace` (seconds
    /// an encode, from an earlier run) costs encodes while this run has timed none.
    public func secondsLeft(elapsed: Double, moreEncodes: Int = 0, moreDecodes: Int = 0, encodePace: Double? = nil) -> Double? {
        let spent = encodeSeconds + decodeSeconds
        let encodesLeft = max(0, toEncode - encoded) + moreEncodes
        let perEncode = encoded > 0 ? encodeSeconds / Double(encoded) : encodePace ?? (encodesLeft == 0 ? 0 : .nan)
        guard done > 0, done < total || moreDecodes > 0, spent > 0, !perEncode.isNaN else { return nil }
        let perDecode = decodeSeconds / Double(done)
        let work = Double(encodesLeft) * perEncode + Double(total - done + moreDecodes) * perDecode
        return elapsed * work / spent
    }
}
