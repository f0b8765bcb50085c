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

    @inline(__always)
    public static func measure<T>(_ kind: String, _ body: () -> T) -> T {
        guard enabled else { return body() }
        let t = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = DispatchTime.now().uptimeNanoseconds - t
        let key = stage + kind
        let old = totals[key] ?? (0, 0)
        totals[key] = (old.ns + dt, old.calls + 1)
        return r
    }

    public static func reset() { totals = [:] }

    /// (kind, milliseconds, calls), largest first.
    public static func report() -> [(kind: String, ms: Double, calls: Int)] {
        totals.map { ($0.key, Double($0.value.ns) / 1e6, $0.value.calls) }.sorted { $0.ms > $1.ms }
    }
}
