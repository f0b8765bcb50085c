// Where medseg finds its data: $MEDSEG_HOME, else ${XDG_DATA_HOME:-~/.local/share}/medseg.
import Foundation
import SegEngine
import Volumes

enum DataHome {
    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let h = env["MEDSEG_HOME"], !h.isEmpty { return h }
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (PathText.home + "/.local/share")
        return base + "/medseg"
    }

    /// The converted int8 model `medseg convert` writes by default (and `make build` makes).
    static var convertedModel: String { path + "/models/lite_medsam.int8.medseg" }

    /// The model given with --model, else the installed one (for int8 the converted file when it
    /// exists, else the checkpoint, quantized at load); a clear error when missing.
    static func model(_ explicit: String?, precision: Precision = .fp32) throws -> String {
        if explicit == nil, precision == .int8, FileManager.default.fileExists(atPath: convertedModel) { return convertedModel }
        let p = explicit ?? path + "/models/lite_medsam.pth"
        guard FileManager.default.fileExists(atPath: p) else {
            if explicit != nil { throw CLIError("\(p): No such file or directory (the model file given)", status: 1) }
            throw CLIError("no model at \(p): run scripts/setup.sh (or 'make setup'), or pass --model PATH")
        }
        do { try FileFormat.requireRegularFile(p) } catch { throw CLIError("\(error)", status: 1) }
        return p
    }

    /// Loads the model `model(_:precision:)` picks. A default converted file that no longer
    /// fits this medseg (written by another version) is passed over for the checkpoint, with a
    /// warning, rather than failing. `warn` gets the warning (stderr unless told otherwise: the
    /// workbench shows it on its status line, since stderr would scribble over the screen).
    static func loadModel(_ explicit: String?, precision: Precision,
                          warn: (String) -> Void = { Stderr.write("medseg: warning: \($0)\n") }) throws -> LiteMedSAM {
        let p = try model(explicit, precision: precision)
        do {
            return try LiteMedSAM(checkpointPath: p, precision: precision)
        } catch where explicit == nil && p == convertedModel {
            warn("\(error); using the checkpoint instead (run 'medseg convert' to refresh)")
            return try LiteMedSAM(checkpointPath: try model(nil, precision: .fp32), precision: precision)
        }
    }
}
