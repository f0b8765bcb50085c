// `medseg info FILE...`: what a file holds — format, arrays, geometry, value range, labels, boxes.
import Foundation
import Volumes

enum InfoCommand {
    static let spec = CommandSpec(
        name: "info",
        summary: "describe image, label and challenge files (npz, npy, NIfTI, PNG)",
        usage: "FILE... [--labels | --no-labels]",
        options: [
            OptionSpec(name: "--labels", help: "list voxel counts per label for every integer array"),
            OptionSpec(name: "--no-labels", help: "never list labels"),
        ],
        details: """
        Labels are listed for npz `gts`/`segs` arrays and for integer images with at most 128
        distinct values (label maps), unless --no-labels is given.
        """)

    static let command = Subcommand(spec: spec) { args in
        guard !args.positionals.isEmpty else { throw CLIError("info needs at least one FILE (see 'medseg info --help')") }
        if args.has("--labels") && args.has("--no-labels") { throw CLIError("--labels and --no-labels contradict each other; give one") }
        let mode: LabelMode = args.has("--no-labels") ? .never : (args.has("--labels") ? .always : .auto)
        var status: Int32 = 0, printed = false
        let described = Progress()
        Interrupt.install { "\(described.state.written) of \(args.positionals.count) file\(args.positionals.count == 1 ? "" : "s") described" }
        for path in args.positionals {
            defer { described.wrote() }
            do {
                let (text, unread) = try describe(path: path, labels: mode)
                // A blank line between the files described (not for those that failed).
                print((printed ? "\n" : "") + text, terminator: "")
                printed = true
                // Damaged arrays are described as such, and make the exit status 1.
                if unread > 0 {
                    fflush(stdout)   // after the description, also where both streams go to one file
                    Stderr.write("medseg: error: \(path): \(unread) of its arrays could not be read (damaged)\n")
                    status = 1
                }
            } catch {
                Stderr.write("medseg: error: \((error as? VolumeError)?.at(path) ?? error)\n")
                status = 1
            }
        }
        return status
    }

    enum LabelMode { case auto, always, never }

    /// The text `medseg info` prints for one file, and how many of its arrays are damaged.
    static func describe(path: String, labels mode: LabelMode) throws -> (text: String, unread: Int) {
        var out = "\(path)\n", unread = 0
        // A long array name gets a space after it instead of running into its value.
        func row(_ k: String, _ v: String) { out += "  " + k.padding(toLength: max(9, k.count + 1), withPad: " ", startingAt: 0) + v + "\n" }
        switch try FileFormat.detect(path: path) {
        case .npz:
            // Each array on its own: one medseg cannot read (a string, a pickle) is said so, and
            // the others are still described.
            let arrays = try Npz.readEach(path: path)
            let imgs = arrays.first { $0.name == "imgs" }.flatMap { try? $0.array.get() }
            row("format", "npz" + (imgs.map { " (" + caseKind($0.shape, fileName: (path as NSString).lastPathComponent) + ")" } ?? ""))
            for (name, result) in arrays {
                let a: NDArray
                do { a = try result.get() } catch {
                    let problem = (error as? VolumeError)?.problem ?? "\(error)"
                    row(name, "not read: \(problem)")
                    // An array of a kind medseg does not read (strings, pickles) is no damage.
                    if !problem.contains("not supported"), !problem.contains("unsupported dtype") { unread += 1 }
                    continue
                }
                row(name, arraySummary(a))
                let labelLike = name == "gts" || name == "segs"
                // Box coordinates are not labels (their boxes are listed instead), nor is a case's
                // image, however few its gray levels (an RGB one would count each pixel thrice).
                if (name != "boxes" && name != "imgs") || (name != "boxes" && mode == .always), wantsLabels(a, labelLike: labelLike, mode: mode) {
                    row("", labelsOrWhyNot(a))
                }
                if name == "boxes" {
                    do {
                        for (i, b) in try Boxes.parse(a).enumerated() { row("", "box \(i + 1): \(boxText(b))") }
                    } catch {
                        row("", "not usable as boxes: \((error as? VolumeError)?.problem ?? "\(error)")")   // segment would refuse them
                    }
                }
                if name == "spacing" { row("", "values " + a.doubles().map { fmt($0) }.joined(separator: " x ")) }
            }
        case .npy:
            let a = try Npy.read(path: path)
            row("format", "npy")
            row("array", arraySummary(a))
            if wantsLabels(a, labelLike: false, mode: mode) { row("labels", labelsOrWhyNot(a)) }
        case .nifti:
            let n = try Nifti.read(path: path)
            // libnifti reads a header without the NIfTI magic as ANALYZE 7.5 (version 0).
            let kind = n.niftiVersion == 0 ? "ANALYZE 7.5 (no NIfTI magic)" : "NIfTI-\(n.niftiVersion)"
            row("format", kind + (path.lowercased().hasSuffix(".gz") ? ", gzip-compressed" : ""))
            let axes = "(\(Array("xyztuvw".prefix(n.data.shape.count)).map(String.init).joined(separator: ", ")))"
            row("array", "\(n.data.dtype.numpyName), \(n.data.shape.reversed().map(String.init).joined(separator: " x ")) \(axes.dropLast()) order)")
            row("spacing", n.spacing.reversed().map { fmt($0) }.joined(separator: " x ") + " mm " + axes
                + (n.spacingStored ? "" : "; the header's pixdim " + n.storedPixdim.map { fmt($0) }.joined(separator: " ") + " holds 0 or NaN, taken as 1"))
            if n.sclSlope.isFinite, n.sclSlope != 0, !(n.sclSlope == 1 && n.sclInter == 0) {
                row("scaling", "value * \(fmt(n.sclSlope)) + \(fmt(n.sclInter))")
            }
            row("affine", "qform_code \(n.qformCode), sform_code \(n.sformCode)")
            for r in n.affine { row("", r.map { fmt($0).leftPad(9) }.joined(separator: " ")) }
            row("axes", axesSummary(n))
            let (range, nans) = n.data.rangeAndNaNs()
            if let r = n.data.wideIntegerRange() { row("values", "\(r.min) .. \(r.max) (stored)") }
            else if let r = range, n.data.count > 0 { row("values", "\(fmt(r.min)) .. \(fmt(r.max)) (stored)" + (nans > 0 ? "  (\(nans) NaN)" : "")) }
            else if nans > 0 { row("values", "all \(nans) NaN") }
            if wantsLabels(n.data, labelLike: false, mode: mode) { row("labels", labelsOrWhyNot(n.data)) }
        case .png:
            let a = try PNGFile.read(path: path)
            row("format", "PNG")
            row("array", arraySummary(a))
            if wantsLabels(a, labelLike: false, mode: mode), a.shape.count == 2 { row("labels", labelsOrWhyNot(a)) }
        }
        return (out, unread)
    }

    /// How `segment` reads a case's `imgs` of this shape: "challenge case, 3D" or "2D", or
    /// why it is none ((H, W, 3) is an RGB 2D case unless the file is named 3D*).
    static func caseKind(_ shape: [Int], fileName: String) -> String {
        let dims = "(\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : ""))"
        guard shape.count == 2 || shape.count == 3 else { return "not a challenge case: `imgs` \(dims) is not (H,W), (H,W,3) or (D,H,W)" }
        guard !shape.contains(0) else { return "not a challenge case: `imgs` \(dims) is empty" }
        // Named 2D*, a case is 2D whatever its third axis, as `segment` reads it.
        if fileName.hasPrefix("2D"), shape.count == 3, shape[2] != 3 {
            return "not a challenge case: a 2D case's `imgs` is (H,W) or (H,W,3), not \(dims)"
        }
        return "challenge case, " + (ImageFile.isStack(shape, fileName: fileName) ? "3D" : "2D")
    }

    /// Which side of the patient x, y and z point to (RAS letters, as nibabel's aff2axcodes),
    /// or why that is not known.
    static func axesSummary(_ n: NiftiImage) -> String {
        guard n.geometry.orientationKnown else { return "orientation unknown (no qform or sform code)" }
        let columns = (0..<3).map { c in (0..<3).map { n.affine[$0][c] } }
        if columns.contains(where: { col in col.contains { !$0.isFinite } || col.allSatisfy { $0 == 0 } }) {
            return "unusable affine (an axis of zero length or not a number)"
        }
        let sides = (0..<3).map { ViewAxis.side(affine: n.affine, axis: $0, sign: 1)?.letter }
        guard let x = sides[0], let y = sides[1], let z = sides[2] else { return "oblique: an axis lies halfway between two sides" }
        return "\(x)\(y)\(z) (x towards \(x), y towards \(y), z towards \(z))"
    }

    static func arraySummary(_ a: NDArray) -> String {
        var s = "\(a.dtype.numpyName) (\(a.shape.map(String.init).joined(separator: ", "))\(a.shape.count == 1 ? "," : ""))"
        let (range, nans) = a.rangeAndNaNs()
        if let r = a.wideIntegerRange() { s += "  values \(r.min) .. \(r.max)" }
        else if let r = range, a.count > 0 { s += "  values \(fmt(r.min)) .. \(fmt(r.max))" }
        if nans > 0 { s += "  (\(nans) NaN)" }
        return s
    }

    static func wantsLabels(_ a: NDArray, labelLike: Bool, mode: LabelMode) -> Bool {
        guard !a.dtype.isFloatingPoint, a.count > 0, mode != .never else { return false }
        if mode == .always || labelLike { return true }
        return a.distinctValues(upTo: 128) <= 128
    }

    /// `labelSummary`, or why the values are no label map.
    static func labelsOrWhyNot(_ a: NDArray) -> String {
        do { return try labelSummary(a) } catch { return "not listed as labels: \((error as? VolumeError)?.problem ?? "\(error)")" }
    }

    /// "3 labels: 1 (1204 voxels), 2 (899), 3 (12)" ("pixels" for a plane).
    static func labelSummary(_ a: NDArray) throws -> String {
        let histogram: [Int]
        switch a.labelHistogram() {
        case .success(let h): histogram = h
        case .failure(let bad): throw VolumeError(bad.description)
        }
        let counts = LabelMap.labelCounts(histogram: histogram)
        if counts.isEmpty { return "no labels (all background)" }
        // A plane (or an RGB image's plane) has pixels; a volume voxels.
        let unit = a.shape.filter { $0 > 1 }.count <= 2 ? "pixels" : "voxels"
        let items = counts.enumerated().map { i, c in i == 0 ? "\(c.label) (\(c.count) \(c.count == 1 ? String(unit.dropLast()) : unit))" : "\(c.label) (\(c.count))" }
        var lines = ["\(counts.count) label\(counts.count == 1 ? "" : "s"):"]
        for item in items {
            if lines[lines.count - 1].count + item.count > 88 { lines.append("   ") }
            lines[lines.count - 1] += " " + item
        }
        return lines.joined(separator: "\n           ")
    }

    static func boxText(_ b: Box3DOr2D) -> String {
        switch b {
        case .flat(let r): return "x \(fmt(r.x0))..\(fmt(r.x1))  y \(fmt(r.y0))..\(fmt(r.y1))"
        case .stack(let s): return "x \(fmt(s.xy.x0))..\(fmt(s.xy.x1))  y \(fmt(s.xy.y0))..\(fmt(s.xy.y1))  z \(s.z0)..\(s.z1)"
        }
    }
}

/// Compact number formatting: integers without decimals, others with up to 6 significant digits.
func fmt(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    var s = String(format6(v))
    if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() } }
    return s
}

private func format6(_ v: Double) -> String {
    let mag = abs(v)
    if mag >= 1e-3 && mag < 1e7 {
        let digits = max(0, 5 - Int(mag < 1 ? -1 : Double(Int(log10(mag)))))
        return String(format: "%.\(digits)f", v)
    }
    return String(format: "%.5e", v)
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
