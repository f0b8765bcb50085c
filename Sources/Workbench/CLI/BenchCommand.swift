// `medseg bench`: median latency of the encoder (one 256x256 image) and of the decoder for 1 and
// 16 boxes, on fixed pseudo-random inputs, for comparison with ../shared/bench/peers.sh.
import Foundation
import Render
import SegEngine
import Volumes

enum BenchCommand {
    static let spec = CommandSpec(
        name: "bench",
        summary: "measure encoder and decoder latency (median of --runs)",
        usage: "[--precision int8|bf16|fp32] [--threads N] [--runs N] [--model PATH] [--case FILE] [--json] [--profile]",
        options: [
            OptionSpec.precision,
            OptionSpec(name: "--threads", value: "N", help: "worker threads (default 2)"),
            OptionSpec(name: "--runs", value: "N", help: "timed runs per measurement, after 2 warm-ups (default 10)"),
            OptionSpec(name: "--model", value: "PATH", help: "checkpoint or converted model file (default: the installed one)"),
            OptionSpec(name: "--case", value: "FILE", help: "also time the encoder on a real image: a challenge npz's middle slice (3D) or its image (2D), where background skipping and the lookup of gray levels apply (the pseudo-random image has neither)"),
            OptionSpec(name: "--profile", help: "also show where the encoder's time goes (per stage: pe, s0-s3, neck) and the decoder's (ctx, t0, t1, fin, up), by kind of operation"),
            OptionSpec(name: "--json", help: "print one JSON object: encoder_ms, encoder_case_ms (with --case), decoder_1box_ms, decoder_16box_ms, threads, precision, load_ms, cached_box_ms, frame_ms"),
        ])

    static let command = Subcommand(spec: spec) { args in
        guard args.positionals.isEmpty else { throw CLIError("bench takes no positional arguments; got '\(args.positionals[0])' (an image goes with --case)") }
        let precision = try args.precision()
        let threads = try args.int("--threads", default: 2, range: 1...256)
        let runs = try args.int("--runs", default: 10, range: 1...10000)
        Engine.configure(threads: threads)
        let t0 = Date()
        let model = try DataHome.loadModel(args.value("--model"), precision: precision)
        let loadMs = Date().timeIntervalSince(t0) * 1000
        var rng = SplitMix(seed: 0)
        let image = Tensor(shape: [256, 256, 3], data: (0..<(256 * 256 * 3)).map { _ in rng.unit() })
        let embedding = Tensor(shape: [64, 64, 256], data: (0..<(64 * 64 * 256)).map { _ in rng.normal() })
        let box: [Float] = [50, 60, 180, 200]
        let real = try args.value("--case").map { try caseImage($0) }
        let enc = median(runs) { _ = model.embed(image) }
        let encReal = real.map { r in median(runs) { _ = model.embed(r) } }
        let d1 = median(runs) { _ = model.decode(model.maskDecoder.context(for: embedding), boxes: [box]) }
        let d16 = median(runs) { _ = model.decode(model.maskDecoder.context(for: embedding), boxes: Array(repeating: box, count: 16)) }
        // The workbench's figures: `s` to mask with the slice's embedding cached (decode one box,
        // upsample and threshold to a 512x512 slice), and one frame of a 512x512 slice into 200x60 cells.
        let segmenter = Segmenter(model: model)
        let slice = ImageU8(height: 512, width: 512, channels: 1, pixels: (0..<(512 * 512)).map { UInt8(truncatingIfNeeded: ($0 % 512) ^ ($0 / 512)) })
        _ = segmenter.encode(slice, key: 0)
        let cached = median(runs) { _ = segmenter.segment(slice, boxes: [[100, 120, 300, 340]], key: 0) }
        let frame = RenderBench.frameMilliseconds(runs: max(runs, 20))
        if args.has("--profile") {
            report("encoder", runs: runs) { _ = model.embed(image) }
            if let real { report("encoder on --case", runs: runs) { _ = model.embed(real) } }
            report("decoder, 1 box, with its image context", runs: runs) {
                _ = model.decode(model.maskDecoder.context(for: embedding), boxes: [box])
            }
        }
        if args.has("--json") {
            print("{\"encoder_ms\": \(r2(enc)), \(encReal.map { "\"encoder_case_ms\": \(r2($0)), " } ?? "")\"decoder_1box_ms\": \(r2(d1)), \"decoder_16box_ms\": \(r2(d16)), \"threads\": \(threads), \"precision\": \"\(precision)\", \"load_ms\": \(r2(loadMs)), \"cached_box_ms\": \(r2(cached)), \"frame_ms\": \(r2(frame))}")
        } else {
            print("precision \(precision), \(threads) thread\(threads == 1 ? "" : "s"), median of \(runs) (model loaded in \(r2(loadMs)) ms)")
            let rows = [("encoder (256x256)", enc)] + (encReal.map { [("encoder, --case", $0)] } ?? [])
                + [("decoder, 1 box", d1), ("decoder, 16 boxes", d16), ("box to mask, 512x512 slice, embedding cached", cached),
                   ("frame, 512x512 slice into 200x60 cells", frame)]
            for (what, ms) in rows { print("  " + what.padding(toLength: 46, withPad: " ", startingAt: 0) + r2(ms).leftPad(8) + " ms") }
        }
        return 0
    }

    /// The encoder input of a challenge npz: its middle slice (3D) or its image (2D), preprocessed.
    static func caseImage(_ path: String) throws -> Tensor {
        try SegmentCommand.refuseImageFiles(path, command: "bench --case")
        let imgs = try SegmentCommand.images(in: try Npz.read(path: path, only: ["imgs"]), path: path)
        let pixels = try SegmentCommand.uint8Pixels(imgs, path: path), s = imgs.shape
        let image = ImageFile.isStack(s, fileName: (path as NSString).lastPathComponent)
            ? SegmentCommand.slice(pixels, z: s[0] / 2, height: s[1], width: s[2])
            : try SegmentCommand.flatImage(imgs, pixels: pixels, path: path)
        return Tensor(shape: [256, 256, 3], data: Preprocess.image(image).tensor)
    }

    /// Where `body`'s time goes, per stage and kind of operation, on stderr.
    /// "other" is the profiled runs' own wall time less the parts (the medians come from runs
    /// without the profile's clock readings, and are shorter: "other" came out negative).
    static func report(_ what: String, runs: Int, _ body: () -> Void) {
        Profile.enabled = true
        Profile.reset()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<runs { body() }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        Profile.enabled = false
        let total = Profile.report().reduce(0) { $0 + $1.ms }
        Stderr.write("\(what) profile (per run, \(runs) run\(runs == 1 ? "" : "s"), \(r2(wall / Double(runs))) ms each):\n")
        for r in Profile.report() {
            Stderr.write("  " + r.kind.padding(toLength: 14, withPad: " ", startingAt: 0)
                         + r2(r.ms / Double(runs)).leftPad(9) + " ms  " + String(format: "%5.1f%%", r.ms / total * 100) + "\n")
        }
        Stderr.write("  " + "other".padding(toLength: 14, withPad: " ", startingAt: 0) + r2((wall - total) / Double(runs)).leftPad(9) + " ms\n")
    }

    static func median(_ runs: Int, _ body: () -> Void) -> Double {
        body(); body()
        var ts: [Double] = []
        for _ in 0..<runs {
            let t = DispatchTime.now().uptimeNanoseconds
            body()
            ts.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        ts.sort()
        return runs % 2 == 1 ? ts[runs / 2] : (ts[runs / 2 - 1] + ts[runs / 2]) / 2
    }

    static func r2(_ v: Double) -> String { String(format: "%.2f", v) }
}

/// A small deterministic generator for benchmark inputs.
