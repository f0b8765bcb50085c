// Errors are values with context; the CLI turns them into one line on stderr (DESIGN rule 9).

/// A problem with input data or a file, with the file's path when one is known.
public struct VolumeError: Error, CustomStringConvertible, Equatable {
    public var path: String?
    public var problem: String

    public init(_ problem: String, path: String? = nil) {
        self.problem = problem
        self.path = path
    }

    /// The same error, naming `path` if it did not name a file yet.
    public func at(_ path: String) -> VolumeError {
        VolumeError(problem, path: self.path ?? path)
    }

    public var description: String {
        if let path { return "\(path): \(problem)" }
        return problem
    }
}

/// A value for a message: whole numbers without decimals ("-1", not "-1.0").
func valueText(_ v: Double) -> String {
    v.isFinite && v == v.rounded() && abs(v) < 1e18 ? String(Int64(v)) : "\(v)"
}
