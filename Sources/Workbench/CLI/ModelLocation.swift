// Where medseg finds its data: $MEDSEG_HOME, else ${XDG_DATA_HOME:-~/.local/share}/medseg.
import Foundation

enum DataHome {
    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let h = env["MEDSEG_HOME"], !h.isEmpty { return h }
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/share")
        return base + "/medseg"
    }

    /// The checkpoint given with --model, else the installed one; a clear error when missing.
    static func model(_ explicit: String?) throws -> String {
        let p = explicit ?? path + "/models/lite_medsam.pth"
        guard FileManager.default.fileExists(atPath: p) else {
            if explicit != nil { throw CLIError("\(p): no such model file") }
            throw CLIError("no model at \(p): run scripts/setup.sh (or 'make setup'), or pass --model PATH")
        }
        return p
    }
}
