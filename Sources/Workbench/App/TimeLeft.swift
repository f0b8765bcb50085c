// The time a long run still needs, as progress lines say it.

enum TimeLeft {
    /// The time left once a guess is fair: a second in and 3% of the steps done; else empty.
    static func text(_ seconds: Double?, done: Int, total: Int, elapsed: Double) -> String {
        elapsed >= 1 && (total == 0 || done * 100 >= 3 * total) ? text(seconds) : ""
    }

    /// ", about 51 s left" (", about 5 min left" from 90 s on); empty for nil.
    static func text(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite, s >= 0 else { return "" }
        return s < 90 ? ", about \(Int(s.rounded())) s left" : ", about \(Int((s / 60).rounded())) min left"
    }
}
