// `medseg segment INPUT... --output-dir DIR`: challenge npz cases in, `segs` npz out.
import Foundation
import SegEngine
import Volumes

enum SegmentCommand {
    static let spec = CommandSpec(
        name: "segment",
        summary: "segment challenge npz cases (imgs + boxes) headless, writing segs npz files",
        usage: "INPUT... --output-dir DIR [--model PATH] [--precision int8|bf16|fp32] [--threads N] [--3d propagate|per-slice] [--max-batch N] [--cache-mb N]",
        options: [
            OptionSpec(name: "--output-dir", short: "-o", value: "DIR", help: "where DIR/<case>.npz files go (created if missing)"),
            OptionSpec(name: "--model", value: "PATH", help: "checkpoint or converted model file (default: the installed one)"),
            OptionSpec.precision,
            OptionSpec(name: "--threads", value: "N", help: "worker threads (default 2)"),
            OptionSpec(name: "--3d", value: "S", help: "propagate (default; the official protocol) or per-slice (QMedSAM)"),
            OptionSpec(name: "--max-batch", value: "N", help: "most boxes decoded at once (default 1: each box alone, so its mask is the one the workbench makes and does not depend on the other boxes; 16 saves about 9% on 2D cases with hundreds of boxes, and masks can then differ by float rounding)"),
            OptionSpec(name: "--cache-mb", value: "N", help: "slice-embedding cache budget in MiB (default 512)"),
        ],
        details: """
        INPUT is a challenge npz (imgs (H,W,3) or (H,W) for 2D, (D,H,W) for 3D; boxes (N,4) or
        (N,6)) or a directory of them. Output `segs` has the shape of `imgs` without channels,
        label i for box i (later boxes over earlier ones), uint8 (uint16 above 255 boxes).
        Boxes are clipped to the image; inverted ones are reordered; boxes that miss the image and
        masks that come out empty or (2D) mostly outside their box are reported. An output never
        replaces an input case, nor any file but an earlier output (an npz holding only `segs`).
        """)

    static let command = Subcommand(spec: spec) { args in
        guard !args.positionals.isEmpty else { throw CLIError("segment needs at least one INPUT npz file or directory (see 'medseg segment --help')") }
        guard let outDir = args.value("--output-dir") else { throw CLIError("segment needs --output-dir DIR (see 'medseg segment --help')") }
        let precision = try args.precision()
        let strategyName = args.value("--3d") ?? "propagate"
        guard let strategy = Strategy3D(rawValue: strategyName) else {
            throw CLIError("--3d takes propagate or per-slice, not '\(strategyName)'")
        }
        let threads = try args.int("--threads", default: 2, range: 1...256)
        let maxBatch = try args.int("--max-batch", default: 1, range: 1...4096)
        let cacheMB = try args.int("--cache-mb", default: 512, range: 16...1 << 20)
        let inputs = try collectInputs(args.positionals)
        for path in inputs {
            let out = (outDir as NSString).appendingPathComponent(outputName(path))
            try OutputPaths.refuseOverwriting([path], with: out, flag: "--output-dir", given: outDir)
            try OutputPaths.refuseReplacingOtherThanSegs(out, flag: "--output-dir", given: outDir)
        }
        // A directory made here and left empty (no model, every case bad) is removed again.
        let madeDir = !FileManager.default.fileExists(atPath: outDir)
        try OutputPaths.makeDirectory(outDir, for: "the output directory")
        defer { if madeDir, (try? FileManager.default.contentsOfDirectory(atPath: outDir))?.isEmpty == true { rmdir(outDir) } }
        // Found now, not after every case has been segmented for nothing.
        if access(outDir.isEmpty ? "." : outDir, W_OK) != 0 {
            throw CLIError("\(outDir): cannot write in the output directory (\(String(cString: strerror(errno))))", status: 1)
        }
        Engine.configure(threads: threads)
        let progress = Progress()
        // From before the model loads; the directory made here goes too when left empty.
        Interrupt.install(progress: {
            let (done, current) = progress.state
            return "\(done) of \(inputs.count) case\(inputs.count == 1 ? "" : "s") written" + (current.map { "; \($0) not finished, nothing written for it" } ?? "")
        }, cleanup: { if madeDir { rmdir(outDir) } })   // rmdir removes only an empty one
        let model = try DataHome.loadModel(args.value("--model"), precision: precision)
        let segmenter = Segmenter(model: model, cacheBytes: cacheMB << 20, maxBatch: maxBatch)
        var failures = 0, totalSeconds = 0.0, totalSlices = 0
        for path in inputs {
            let name = (path as NSString).lastPathComponent
            let t0 = Date()
            progress.starting(name)
            defer { progress.finished() }
            do {
                let before = segmenter.slicesEncoded
                segmenter.cache.removeAll()
                // Propagation reports one step per object and slice, per-slice one per slice.
                let unit = strategy == .propagate ? "object-slices" : "slices"
                let segs = try segmentCase(path: path, segmenter: segmenter, strategy: strategy) { p in
                    if Stderr.isTerminal {
                        let elapsed = Date().timeIntervalSince(t0)
                        Stderr.write("\r\u{1B}[K" + progressLine(name, done: p.done, total: p.total, unit: unit, elapsed: elapsed,
                                                                   left: p.secondsLeft(elapsed: elapsed)))
                    }
                }
                let out = (outDir as NSString).appendingPathComponent(outputName(path))
                try Npz.write([(name: "segs", array: segs)], to: out)
                progress.wrote()
                let dt = Date().timeIntervalSince(t0), n = segmenter.slicesEncoded - before
                totalSeconds += dt
                totalSlices += n
                if Stderr.isTerminal { Stderr.write("\r\u{1B}[K") }
                print("\(name)  \(String(format: "%.2f", dt)) s  \(n) slice\(n == 1 ? "" : "s") encoded  -> \(out)")
            } catch {
                failures += 1
                if Stderr.isTerminal { Stderr.write("\r\u{1B}[K") }
                // Errors of the file's contents (e.g. a box's coordinates) name the case, as `open` does.
                Stderr.write("medseg: error: \((error as? VolumeError)?.at(path) ?? error)\n")
            }
        }
        print("\(inputs.count - failures) of \(inputs.count) case\(inputs.count == 1 ? "" : "s") segmented in \(String(format: "%.2f", totalSeconds)) s (\(totalSlices) slice\(totalSlices == 1 ? "" : "s") encoded)")
        return failures == 0 ? 0 : 1
    }

    /// The case files named by `paths` (files, or directories of .npz files), each once. Two
    /// inputs of the same file name would write the same output: refused.
    static func collectInputs(_ paths: [String]) throws -> [String] {
        var out: [String] = [], empty: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw CLIError("\(p): No such file or directory", status: 1) }
            if isDir.boolValue {
                // Files only: a directory named x.npz is not a case.
                let files = try FileManager.default.contentsOfDirectory(atPath: p).filter { name in
                    // Hidden files are no cases (macOS leaves ._NAME.npz beside each), as for eval.
                    !name.hasPrefix(".") && name.lowercased().hasSuffix(".npz") && OutputPaths.isFile((p as NSString).appendingPathComponent(name))
                }.sorted()
                if files.isEmpty { empty.append(p) }
                let folders = try FileManager.default.contentsOfDirectory(atPath: p).filter { name in
                    var d: ObjCBool = false
                    return FileManager.default.fileExists(atPath: (p as NSString).appendingPathComponent(name), isDirectory: &d) && d.boolValue
                }
                if !folders.isEmpty {
                    Stderr.warn("\(p): \(folders.count) folder\(folders.count == 1 ? "" : "s") in it not searched (name them to segment their cases)")
                }
                out += files.map { (p as NSString).appendingPathComponent($0) }
            } else {
                out.append(p)
            }
        }
        // An empty folder beside cases is a warning; with nothing else, bad input (exit 1).
        guard !out.isEmpty else {
            throw CLIError(empty.isEmpty ? "no input cases" : "no input cases: \(empty.joined(separator: ", ")) \(empty.count == 1 ? "holds" : "hold") no .npz files", status: 1)
        }
        for p in empty { Stderr.warn("\(p) holds no .npz files") }
        var seen: [[Int]: String] = [:], byName: [String: String] = [:], unique: [String] = []
        for p in out {
            if let id = OutputPaths.identity(p) {
                if let first = seen[id] { Stderr.warn(p == first ? "\(p) is given twice; segmented once" : "\(p) is \(first), given twice; segmented once"); continue }
                seen[id] = p
            }
            let name = outputName(p)
            if let other = byName[name] {
                throw CLIError("\(other) and \(p) would both be written as \(name); segment them into different --output-dir")
            }
            byName[name] = p
            unique.append(p)
        }
        return unique
    }

    /// The output's file name: the case's, with `.npz` added when it has another ending (the
    /// output is an npz whatever the input was called).
    static func outputName(_ path: String) -> String {
        let name = (path as NSString).lastPathComponent
        return name.lowercased().hasSuffix(".npz") ? name : name + ".npz"
    }

    /// Which labels 0...boxes occur in a label map (a box's label is missing when its mask was
    /// empty or wholly covered by later boxes).
    static func labelsPresent(_ labels: [UInt16], boxes: Int) -> [Bool] {
        var present = [Bool](repeating: false, count: boxes + 1)
        for l in labels { present[Int(l)] = true }
        return present
    }

    /// A NIfTI, PNG or npy image is not a challenge case: said so, with where it can be segmented.
    static func refuseImageFiles(_ path: String, command: String) throws {
        let lower = path.lowercased()
        if [".nii", ".nii.gz", ".png", ".npy"].contains(where: { lower.hasSuffix($0) }) {
            throw VolumeError("\(command) takes challenge npz cases (imgs + boxes); 'medseg open' opens a NIfTI, PNG or npy image and segments it from boxes drawn there", path: path)
        }
    }

    /// Segments one challenge case; returns the `segs` array.
    static func segmentCase(path: String, segmenter: Segmenter, strategy: Strategy3D,
                            progress: @escaping (StackProgress) -> Void) throws -> NDArray {
        try refuseImageFiles(path, command: "segment")
        let arrays = try Npz.read(path: path, only: ["imgs", "boxes"])
        let imgs = try images(in: arrays, path: path)
        guard let boxArray = arrays.first(where: { $0.name == "boxes" })?.array else {
            throw VolumeError("no `boxes` array: nothing to segment", path: path)
        }
        // A file named 2D* is a 2D case whatever its third axis, as the challenge names them.
        if (path as NSString).lastPathComponent.hasPrefix("2D"), imgs.shape.count == 3, imgs.shape[2] != 3 {
            throw VolumeError("`imgs` has shape \(imgs.shape); a 2D case's image is (H,W) or (H,W,3)", path: path)
        }
        let pixels = try uint8Pixels(imgs, path: path)
        let parsed = try Boxes.parse(boxArray)
        guard parsed.count <= Int(UInt16.max) else {
            throw VolumeError("\(parsed.count) boxes; at most \(UInt16.max) labels fit the uint16 `segs`", path: path)
        }
        let name = (path as NSString).lastPathComponent
        if parsed.isEmpty { Stderr.warn("\(name): `boxes` is empty; its segs is all background") }
        if ImageFile.isStack(imgs.shape, fileName: name) {
            let (d, h, w) = (imgs.shape[0], imgs.shape[1], imgs.shape[2])
            var boxes: [StackBox] = []
            for (i, b) in parsed.enumerated() {
                guard case .stack(let s) = b else {
                    throw VolumeError("3D case with a 4-value box (box \(i + 1)); expected 6 values (`imgs` \(imgs.shape) is read as \(d) slices of \(h)x\(w); a 2D image is (H,W) or (H,W,3))", path: path)
                }
                guard let clipped = clip(s.xy, height: h, width: w, what: "box \(i + 1)", path: path) else { boxes.append(StackBox(box: [0, 0, 0, 0], z0: 1, z1: 0)); continue }
                let (z0, z1) = (min(s.z0, s.z1), max(s.z0, s.z1))
                if s.z0 > s.z1 { Stderr.warn("\(name): box \(i + 1) has its slices inverted (\(s.z0)...\(s.z1)); reordered") }
                let (c0, c1) = (max(0, z0), min(d - 1, z1))
                if c0 > c1 {
                    Stderr.warn("\(name): box \(i + 1) slices \(z0)...\(z1) lie outside the volume's 0...\(d - 1); skipped")
                } else if c0 != z0 || c1 != z1 {
                    Stderr.warn("\(name): box \(i + 1) slices \(z0)...\(z1) reach outside the volume; clipped to \(c0)...\(c1)")
                }
                boxes.append(StackBox(box: clipped, z0: c0, z1: c1))
            }
            let labels = segmenter.segment3D(depth: d, height: h, width: w, slice: { slice(pixels, z: $0, height: h, width: w) },
                                             boxes: boxes, strategy: strategy, progress: progress)
            let present = labelsPresent(labels, boxes: boxes.count)
            for (i, b) in boxes.enumerated() where b.z0 <= b.z1 && !present[i + 1] {
                Stderr.warn("\(name): box \(i + 1) left no voxel labelled \(i + 1) (an empty mask, or covered by later boxes)")
            }
            return segsArray(labels, shape: [d, h, w], boxes: boxes.count)
        }
        let image = try flatImage(imgs, pixels: pixels, path: path), (h, w) = (image.height, image.width)
        var boxes: [PixelBox] = [], keep: [Int] = []
        for (i, b) in parsed.enumerated() {
            guard case .flat(let xy) = b else {
                // Say how the image was read: (D,H,3) is an RGB image, not three-channel slices.
                let read = imgs.shape.count == 3 ? "an RGB image of \(w)x\(h)" : "an image of \(w)x\(h)"
                throw VolumeError("2D case with a 6-value box (box \(i + 1)); expected 4 values (`imgs` \(imgs.shape) is read as \(read))", path: path)
            }
            if let clipped = clip(xy, height: h, width: w, what: "box \(i + 1)", path: path) { boxes.append(clipped); keep.append(i) }
        }
        var labels = [UInt16](repeating: 0, count: h * w), drawn: [Int] = []
        for (n, m) in segmenter.segment(image, boxes: boxes).enumerated() {
            let nonEmpty = m.contains(where: { $0 != 0 })
            if nonEmpty { drawn.append(keep[n] + 1) }
            if !nonEmpty { Stderr.warn("\(name): box \(keep[n] + 1) gave an empty mask") }
            else if let out = shareOutside(m, box: boxes[n], width: w), out > 0.5 {
                // The model can miss its box (on very elongated images, say): say so.
                Stderr.warn("\(name): \(Int((out * 100).rounded()))% of box \(keep[n] + 1)'s mask lies outside the box")
            }
            for p in 0..<(h * w) where m[p] != 0 { labels[p] = UInt16(keep[n] + 1) }
        }
        // Masks wholly under later boxes' masks leave their label nowhere: said, in one line.
        let present = labelsPresent(labels, boxes: parsed.count)
        let covered = drawn.filter { !present[$0] }
        if !covered.isEmpty {
            // Runs as the workbench lists labels ("1-3, 7").
            Stderr.warn("\(name): \(covered.count == 1 ? "box" : "\(covered.count) boxes:") \(LabelList.text(covered)) left no pixel labelled as \(covered.count == 1 ? "its own" : "theirs") (covered by later boxes' masks)")
        }
        return segsArray(labels, shape: [h, w], boxes: parsed.count)
    }

    /// The terminal's progress line for a case: steps done of all, the share, and once a few
    /// percent are done, the time `left` (`StackProgress.secondsLeft`).
    static func progressLine(_ name: String, done: Int, total: Int, unit: String, elapsed: Double, left: Double?) -> String {
        let share = total > 0 ? 100 * done / total : 100
        return "\(name): \(done)/\(total) \(unit) (\(share)%)" + TimeLeft.text(left, done: done, total: total, elapsed: elapsed)
    }

    /// A case's `imgs` array.
    static func images(in arrays: [(name: String, array: NDArray)], path: String) throws -> NDArray {
        guard let imgs = arrays.first(where: { $0.name == "imgs" })?.array else {
            throw VolumeError("no `imgs` array; not a challenge case", path: path)
        }
        return imgs
    }

    /// The share of a mask's pixels outside its box [x0, y0, x1, y1] (nil for an empty mask).
    static func shareOutside(_ mask: [UInt8], box b: PixelBox, width w: Int) -> Double? {
        var inside = 0, all = 0
        for (p, v) in mask.enumerated() where v != 0 {
            all += 1
            let (x, y) = (Double(p % w), Double(p / w))
            if x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3] { inside += 1 }
        }
        return all == 0 ? nil : Double(all - inside) / Double(all)
    }

    /// Slice z of a (D, H, W) stack's pixels.
    static func slice(_ pixels: [UInt8], z: Int, height h: Int, width w: Int) -> ImageU8 {
        ImageU8(height: h, width: w, channels: 1, pixels: Array(pixels[(z * h * w)..<((z + 1) * h * w)]))
    }

    /// A 2D case's image, (H, W) or (H, W, 3).
    static func flatImage(_ imgs: NDArray, pixels: [UInt8], path: String) throws -> ImageU8 {
        let c = imgs.shape.count == 3 ? imgs.shape[2] : 1
        guard c == 1 || c == 3 else { throw VolumeError("`imgs` has \(c) channels; expected 1 or 3", path: path) }
        return ImageU8(height: imgs.shape[0], width: imgs.shape[1], channels: c, pixels: pixels)
    }

    static func segsArray(_ labels: [UInt16], shape: [Int], boxes: Int) -> NDArray {
        boxes > 255 ? NDArray(shape: shape, values: labels) : NDArray(shape: shape, values: labels.map { UInt8(truncatingIfNeeded: $0) })
    }

    /// Box clipped to the image, corners ordered (`Box2D.clipped`); nil (with a warning) when
    /// it misses the image. What was fixed is said.
    static func clip(_ b: Box2D, height h: Int, width w: Int, what: String, path: String) -> PixelBox? {
        let name = (path as NSString).lastPathComponent
        let corners = "[\(fmt(b.x0)), \(fmt(b.y0)), \(fmt(b.x1)), \(fmt(b.y1))]"
        guard let clipped = b.clipped(height: h, width: w) else {
            Stderr.warn("\(name): \(what) \(corners) lies outside the \(w)x\(h) image; skipped")
            return nil
        }
        if b.x0 > b.x1 || b.y0 > b.y1 { Stderr.warn("\(name): \(what) has inverted corners; reordered") }
        if min(b.x0, b.x1) < 0 || min(b.y0, b.y1) < 0 || max(b.x0, b.x1) > Double(w) || max(b.y0, b.y1) > Double(h) {
            Stderr.warn("\(name): \(what) \(corners) reaches outside the \(w)x\(h) image; clipped")
        }
        return clipped
    }

    /// The uint8 pixels the model expects; other dtypes are windowed by MedSAM's percentile rule.
    static func uint8Pixels(_ imgs: NDArray, path: String) throws -> [UInt8] {
        guard imgs.shape.count == 2 || imgs.shape.count == 3 else {
            throw VolumeError("`imgs` has shape \(imgs.shape); expected (H,W), (H,W,3) or (D,H,W)", path: path)
        }
        guard imgs.shape.allSatisfy({ $0 > 0 }) else { throw VolumeError("`imgs` of shape \(imgs.shape) is empty: nothing to segment", path: path) }
        if let u8 = imgs.values(as: UInt8.self) { return u8 }
        let name = (path as NSString).lastPathComponent, values = imgs.floats()
        let nonFinite = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        guard nonFinite < values.count else { throw VolumeError("`imgs` holds no finite value (all NaN or infinite)", path: path) }
        if nonFinite > 0 { Stderr.warn("\(name): \(nonFinite) value\(nonFinite == 1 ? " of `imgs` is" : "s of `imgs` are") NaN or infinite; NaN is taken as 0, infinities as the ends of the window") }
        // Whole numbers 0-255 in another type (a uint8 image saved as float) are the pixels as they are.
        if Windowing.holdsWholeBytes(values) {
            Stderr.warn("\(name): `imgs` is \(imgs.dtype.numpyName) holding whole numbers 0-255; taken as uint8 pixels")
            return values.map { UInt8($0) }
        }
        Stderr.warn("\(name): `imgs` is \(imgs.dtype.numpyName), not uint8; windowed to 0-255 (0.5-99.5 percentiles)")
        return Windowing.applyPercentile(values)
    }
}
