import XCTest
import Volumes

/// Runs the built `medseg` executable (it sits beside the test bundle) and captures its output.
struct MedsegRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CLI {
    static var executable: URL {
        let selfExe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return selfExe.deletingLastPathComponent().appendingPathComponent("medseg")
    }

    static func run(_ args: [String], environment: [String: String]? = nil, in directory: URL? = nil) throws -> MedsegRun {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        if let directory { p.currentDirectoryURL = directory }
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return MedsegRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self))
    }
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Where scripts/setup.sh installs the model and the demo ($MEDSEG_HOME, else the XDG data home).
func medsegHome() -> String {
    let env = ProcessInfo.processInfo.environment
    return env["MEDSEG_HOME"] ?? ((env["XDG_DATA_HOME"] ?? (NSHomeDirectory() + "/.local/share")) + "/medseg")
}
