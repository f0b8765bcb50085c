// `medseg open FILE [--gt FILE] [--out FILE]`: the interactive workbench.
import Foundation
import SegEngine
import Volumes

enum OpenCommand {
    static let spec = CommandSpec(
        name: "open",
        summary: "open an image in the terminal workbench: browse, box, segment, compare, save",
        usage: "FILE [--gt FILE] [--out FILE] [--model PATH] [--precision int8|bf16|fp32] [--threads N]",
        options: [
            OptionSpec(name: "--gt", value: "FILE", help: "ground-truth label map (NIfTI, npz gts/segs, PNG); DSC and NSD shown live"),
            OptionSpec(name: "--out", value: "FILE", help: "where w saves (.npz, .nii.gz, .nii, .png); default next to FILE"),
            OptionSpec(name: "--model", value: "PATH", help: "checkpoint or converted model file (default: the installed one)"),
            OptionSpec.precision,
            OptionSpec(name: "--threads", value: "N", help: "engine threads (default 2)"),
        ],
        details: """
        FILE is a challenge npz (imgs, with gts and boxes when present), a NIfTI image, a PNG or an
        npy array, 2D or 3D. Press ? inside for every key; README.md lists keys and commands.
        Unsaved work is autosaved to a recovery file that the next 'medseg open' of FILE offers to restore.
        """)

    static let command = Subcommand(spec: spec) { args in
        guard args.positionals.count == 1 else { throw CLIError("open needs exactly one FILE (see 'medseg open --help')") }
        let path = args.positionals[0]
        let threads = try args.int("--threads", default: 2, range: 1...256)
        let precision = try args.precision()
        let inputs = [path] + (args.value("--gt").map { [$0] } ?? [])   // never a save target
        if let out = args.value("--out") {
            // `w` would write the masks over the image or the ground truth.
            try OutputPaths.refuseOverwriting(inputs, with: out, flag: "--out")
        }
        if let m = args.value("--model") { _ = try DataHome.model(m) }
        // Reading a large compressed volume takes a second or more before the screen opens.
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        if bytes > 16 << 20 { Stderr.write("medseg: reading \(path) (\(bytes >> 20) MB)...\n") }
        let image = try ImageFile.open(path: path)
        let gt = try args.value("--gt").map { try LabelFile.read(path: $0, keys: ["gts", "segs"]) }
        let session = try Session(path: path, image: image, groundTruth: gt, outputPath: args.value("--out"))
        // What `w` would refuse is refused now (a directory, a pipe, a missing folder, a 3D PNG).
        if let out = args.value("--out"), let why = Persistence.unusableTarget(out, session: session) {
            throw CLIError("--out: \(why)", status: 1)
        }
        // Before the workbench claims the image's recovery file (its lock file would stay behind).
        try Terminal.requireTTY()
        Engine.configure(threads: threads)
        let status = try WorkbenchApp(session: session, modelPath: args.value("--model"), precision: precision, inputs: inputs).run()
        // The engine thread may be mid-way through a prefetch or a 3D propagation; run() has
        // already finished every save and restored the terminal. Leave without the exit-time
        // destructors, which would pull the BLAS and thread pool from under that thread.
        fflush(stdout); fflush(stderr)
        _exit(status)
    }
}
