// Time spent per kind of operation, for `medseg bench --profile`. Off unless enabled.
import Dispatch

public enum Profile {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) static var totals: [String: (ns: UInt64, calls: Int)] = [:]
    /// The stage ("s0 ", "t1 ", ...) prefixed to the kinds measured. Set only while profiling:
    /// workers encoding slices side by side (StackRunner) would otherwise race on it.
    public static var stage: String {
        get { currentStage }
        set { if enabled { currentStage = newValue } }
    }
    nonisolated(unsafe) private static var currentStage = ""

    /// Time of the measures inside each measure now running (innermost last).
    nonisolated(unsafe) private static var inner: [UInt64] = []

    /// Runs `body`, counting its time to `kind` less the time of the measures inside it, so the
    /// kinds add up to the time measured (nested ones were counted twice: "other" came out
    /// negative).
    @inline(__always)
    public static func measure<T>(_ kind: String, _ body: () -> T) -> T {
        guard enabled else { return body() }
        inner.append(0)
        let t = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = DispatchTime.now().uptimeNanoseconds - t
        let nested = inner.removeLast()
        if !inner.isEmpty { inner[inner.count - 1] += dt }
        let key = stage + kind
        let old = totals[key] ?? (0, 0)
        totals[key] = (old.ns + dt - min(dt, nested), old.calls + 1)
        return r
    }

    public static func reset() { totals = [:]; inner = [] }

    /// (kind, milliseconds, calls), largest first.
    public static func report() -> [(kind: String, ms: Double, calls: Int)] {
        totals.map { ($0.key, Double($0.value.ns) / 1e6, $0.value.calls) }.sorted { $0.ms > $1.ms }
    }
}
