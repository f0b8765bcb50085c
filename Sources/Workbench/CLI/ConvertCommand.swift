// `medseg convert`: writes the int8 model file (float tensors plus precomputed int8 weights) that
// `open`, `segment` and `bench` load by mmap instead of unpickling and quantizing the checkpoint.
import Foundation
import Volumes
import SegEngine

enum ConvertCommand {
    static let spec = CommandSpec(
        name: "convert",
        summary: "write the int8 model file from a LiteMedSAM checkpoint (loads in milliseconds)",
        usage: "[--checkpoint PATH] [--output FILE]",
        options: [
            OptionSpec(name: "--checkpoint", value: "PATH", help: "lite_medsam.pth or a training checkpoint (default: the installed one)"),
            OptionSpec(name: "--output", value: "FILE", help: "model file to write (default: $MEDSEG_HOME/models/lite_medsam.int8.medseg, used by default for int8; its folder is made if missing)"),
        ],
        details: """
        The file's layout is documented in docs/MODEL_FILE.md. It holds the checkpoint's float
        tensors too, so --precision fp32 can load it as well. Written atomically; an existing
        --output is replaced only when it is a medseg model file.
        """)

    static let command = Subcommand(spec: spec) { args in
        guard args.positionals.isEmpty else { throw CLIError("convert takes no positional arguments (see 'medseg convert --help')") }
        let checkpoint = try DataHome.model(args.value("--checkpoint"))
        let output = args.value("--output") ?? DataHome.convertedModel
        try OutputPaths.makeDirectory(PathText.parent(output), for: "the model file's directory")
        try OutputPaths.refuseOverwriting([checkpoint], with: output, flag: "--output")
        // Only an earlier model file is replaced: never a checkpoint or anything else.
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDir) && !ModelFile.isModelFile(output) {
            throw CLIError("--output \(output) " + (isDir.boolValue ? "is a directory; --output names the model file to write"
                : "exists and is not a medseg model file; it is left as it is (choose another --output, or move the file away)"), status: 1)
        }
        Engine.configure(threads: 2)
        Interrupt.install { "no model file written" }
        let t0 = Date()
        // Through a symlink to the file it names, by a temporary file and a rename (a link to a
        // shared model file was replaced by a plain file, and Ctrl-C left the temporary file).
        try AtomicFile.replace(output) { tmp in try ModelFile.convert(checkpoint: checkpoint, output: tmp) }
        let convertMs = Date().timeIntervalSince(t0) * 1000
        let t1 = Date()
        _ = try ModelFile.load(path: output)
        let loadMs = Date().timeIntervalSince(t1) * 1000
        let size = ((try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? NSNumber)?.intValue ?? 0
        print("wrote \(output) (\(size >> 20) MiB) in \(Int(convertMs)) ms; it loads in \(Int(loadMs)) ms")
        return 0
    }
}
