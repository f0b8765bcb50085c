// `medseg eval --pred P --gt G`: DSC and NSD per case and label, with the challenge's semantics.
import Foundation
import Volumes

enum EvalCommand {
    static let spec = CommandSpec(
        name: "eval",
        summary: "score predictions against ground truth (DSC and NSD, challenge semantics)",
        usage: "--pred P --gt G [--tolerance MM] [--csv FILE] [--json FILE]",
        options: [
            OptionSpec(name: "--pred", value: "P", help: "prediction file or directory (npz `segs`, NIfTI, PNG, npy)"),
            OptionSpec(name: "--gt", value: "G", help: "ground-truth file or directory (npz `gts`, NIfTI, PNG, npy)"),
            OptionSpec(name: "--tolerance", value: "MM", help: "NSD tolerance (mm in 3D, pixels in 2D; default 2)"),
            OptionSpec(name: "--csv", value: "FILE", help: "write one row per case: case,dsc,nsd (4 decimals); - for stdout"),
            OptionSpec(name: "--json", value: "FILE", help: "write per-label detail and means as JSON; - for stdout"),
        ],
        details: """
        Directories are paired by file name; a ground-truth case without a prediction, or one
        that cannot be scored (unreadable, shapes differ), is reported, scores 0 in the means,
        and makes the exit status 1. Labels are 1 to the ground truth's largest, as the
        challenge's script counts them (a label absent from both scores nan); NSD is computed
        only when DSC > 0.2; a case with an empty ground truth scores DSC nan and NSD 0, and the
        mean DSC leaves nan out. 3D spacing is the npz `spacing` as stored (the challenge
        convention), or the NIfTI voxel size; a 2D case is scored as the challenge does, as a
        one-slice volume of 1 mm voxels.
        """)

    static let command = Subcommand(spec: spec) { args in
        guard let predPath = args.value("--pred"), let gtPath = args.value("--gt") else {
            throw CLIError("eval needs --pred and --gt (see 'medseg eval --help')")
        }
        if !args.positionals.isEmpty { throw CLIError("eval takes no positional arguments; got '\(args.positionals[0])'") }
        let tolerance = try args.double("--tolerance", default: 2)
        let pairs = try pairCases(pred: predPath, gt: gtPath)
        let outputs = [("--csv", args.value("--csv")), ("--json", args.value("--json"))].compactMap { f, v in v.map { (f, $0) } }
        if outputs.count == 2, outputs[0].1 == "-" || outputs[1].1 == "-" ? outputs[0].1 == outputs[1].1 : OutputPaths.sameFile(outputs[0].1, outputs[1].1) {
            throw CLIError("--csv and --json name the same file, \(outputs[0].1)")
        }
        // `-` is standard output, which then carries that file alone: the table goes to stderr.
        let toStdout = outputs.contains { $0.1 == "-" }
        func print(_ line: String) { if toStdout { Stderr.write(line + "\n") } else { Swift.print(line) } }
        let inputs = pairs.flatMap { [$0.gt] + ($0.pred.map { [$0] } ?? []) }
        for (flag, path) in outputs where path != "-" {
            try OutputPaths.refuseOverwriting(inputs, with: path, flag: flag)
            try OutputPaths.refuseReplacingOtherThanReport(path, start: flag == "--csv" ? ["case,dsc,nsd\n"] : ["{\n  \"cases\""],
                                                           flag: flag, what: flag == "--csv" ? "eval CSV" : "eval JSON report")
            // Found unwritable now, not after scoring every case.
            if let why = OutputPaths.unwritable(path) { throw CLIError("\(path): \(why) (\(flag))", status: 1) }
        }
        var results: [CaseResult] = []
        let tally = Progress()
        Interrupt.install { "\(tally.state.written) of \(pairs.count) case\(pairs.count == 1 ? "" : "s") scored, no report written" }
        let width = max(4, pairs.map { $0.name.count }.max() ?? 4)
        print("case".padding(toLength: width, withPad: " ", startingAt: 0) + "  label     DSC     NSD")
        for p in pairs {
            guard let pred = p.pred else {
                Stderr.warn("no prediction for \(p.name) (expected \(p.expectedPred))")
                results.append(CaseResult(name: p.name, score: nil))
                print(p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  missing")
                continue
            }
            let gtMap: LabelMap, predMap: LabelMap
            do {
                gtMap = try LabelFile.read(path: p.gt, keys: ["gts"])
                // The ground truth's spacing scores: the prediction's own is not used, nor judged.
                predMap = try LabelFile.read(path: pred, keys: ["segs"], spacing: false)
                guard !gtMap.labels.isEmpty else { throw VolumeError("the ground truth of shape \(gtMap.shape) is empty: nothing to score", path: p.gt) }
                guard gtMap.shape == predMap.shape else {
                    throw VolumeError("prediction shape \(predMap.shape) differs from ground truth \(gtMap.shape)", path: pred)
                }
                if let why = LabelMap.gridMismatch(gtMap.affine, predMap.affine) {
                    throw VolumeError("prediction does not lie on the ground truth's grid: \(why)", path: pred)
                }
                if let note = gtMap.spacingNote, gtMap.is3D { Stderr.warn("\(p.gt): \(note) for NSD") }
            } catch {
                // One bad case does not stop the others: it is reported and scored 0, like a missing one.
                Stderr.write("medseg: error: \(error)\n")
                results.append(CaseResult(name: p.name, score: nil, error: "\(error)"))
                print(p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  not scored")
                continue
            }
            let score = Metrics.evaluate(pred: predMap.labels, gt: gtMap.labels, shape: gtMap.shape,
                                         spacing: gtMap.spacing, tolerance: tolerance, is3D: gtMap.is3D)
            tally.wrote()
            results.append(CaseResult(name: p.name, score: score))
            let pad = p.name.padding(toLength: width, withPad: " ", startingAt: 0)
            // Labels in neither file score nan (the challenge's script counts 1 to the largest);
            // runs of three or more are one row, and the effect on the case is said once.
            let absent = score.labels.filter { $0.dsc.isNaN }.map(\.label)
            if !absent.isEmpty {
                Stderr.warn("\(p.name): \(absent.count) label\(absent.count == 1 ? "" : "s") below the largest in neither file (\(LabelList.text(absent))) "
                            + "score DSC nan, as in the challenge's script: the case's DSC is nan, its NSD 0")
            }
            var i = 0
            while i < score.labels.count {
                let l = score.labels[i]
                var j = i
                while l.dsc.isNaN && j + 1 < score.labels.count && score.labels[j + 1].dsc.isNaN && score.labels[j + 1].label == score.labels[j].label + 1 { j += 1 }
                if j - i >= 2 {
                    // A range too wide for the column ("12-54463") is said after the scores.
                    let range = "\(l.label)-\(score.labels[j].label)", fits = range.count <= 5
                    print(pad + "  " + (fits ? range : String(l.label)).leftPad(5) + "  " + f4(l.dsc).leftPad(6) + "  " + f4(l.nsd).leftPad(6)
                          + (fits ? "  (in neither file)" : "  (labels \(range), in neither file)"))
                } else {
                    for k in i...j { let m = score.labels[k]; print(pad + "  " + String(m.label).leftPad(5) + "  " + f4(m.dsc).leftPad(6) + "  " + f4(m.nsd).leftPad(6)) }
                }
                i = j + 1
            }
            print(pad + "   mean  " + f4(score.dsc).leftPad(6) + "  " + f4(score.nsd).leftPad(6))
        }
        let scored = results.map { $0.score.map { ($0.dsc, $0.nsd) } ?? (0, 0) }
        let meanDSC = nanMean(scored.map(\.0)), meanNSD = nanMean(scored.map(\.1))
        let missing = results.filter(\.isMissing).count, failed = results.filter { $0.error != nil }.count
        let notes = (missing > 0 ? ["\(missing) missing"] : []) + (failed > 0 ? ["\(failed) not scored"] : [])
        print("\(results.count) case\(results.count == 1 ? "" : "s")\(notes.isEmpty ? "" : " (" + notes.joined(separator: ", ") + ", scored 0)"): mean DSC \(f4(meanDSC)), mean NSD \(f4(meanNSD))")
        func write(_ text: String, to path: String) throws {
            guard path == "-" else { try AtomicFile.write(text, to: path); return }
            // A full disk or a closed pipe behind standard output is an error, not a silent loss.
            if fputs(text, stdout) < 0 || fflush(stdout) != 0 {
                throw CLIError("standard output: write failed: \(String(cString: strerror(errno)))", status: 1)
            }
        }
        if let csv = args.value("--csv") { try write(csvText(results), to: csv) }
        if let json = args.value("--json") { try write(jsonText(results, tolerance: tolerance, meanDSC: meanDSC, meanNSD: meanNSD), to: json) }
        return missing + failed > 0 ? 1 : 0
    }

    /// A case's scores; nil when its prediction is missing or it could not be scored (`error`).
    struct CaseResult {
        var name: String; var score: CaseScore?; var error: String? = nil
        /// No prediction file (as opposed to one that could not be scored).
        var isMissing: Bool { score == nil && error == nil }
    }

    struct Pair { var name: String; var gt: String; var pred: String?; var expectedPred: String }

    /// Pairs prediction and ground-truth files: two files, or two directories matched by file name.
    static func pairCases(pred: String, gt: String) throws -> [Pair] {
        let fm = FileManager.default
        var predIsDir: ObjCBool = false, gtIsDir: ObjCBool = false
        guard fm.fileExists(atPath: gt, isDirectory: &gtIsDir) else { throw CLIError("\(gt): No such file or directory", status: 1) }
        guard fm.fileExists(atPath: pred, isDirectory: &predIsDir) else { throw CLIError("\(pred): No such file or directory", status: 1) }
        switch (gtIsDir.boolValue, predIsDir.boolValue) {
        case (false, false):
            return [Pair(name: (gt as NSString).lastPathComponent, gt: gt, pred: pred, expectedPred: pred)]
        case (true, true):
            let gts = try caseFiles(in: gt)
            guard !gts.isEmpty else { throw CLIError("\(gt): no npz, npy, NIfTI or PNG files", status: 1) }
            let preds = Set(try caseFiles(in: pred))
            for extra in preds.subtracting(gts).sorted() { Stderr.warn("\(extra) in \(pred) has no ground truth; ignored") }
            return gts.map { name in
                let p = (pred as NSString).appendingPathComponent(name)
                return Pair(name: name, gt: (gt as NSString).appendingPathComponent(name),
                            pred: preds.contains(name) ? p : nil, expectedPred: p)
            }
        case (true, false): throw CLIError("--gt is a directory but --pred is a file; give two files or two directories")
        case (false, true): throw CLIError("--pred is a directory but --gt is a file; give two files or two directories")
        }
    }

    static func caseFiles(in dir: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        return names.filter { n in
            let l = n.lowercased()
            // Files only: a directory named x.npz is no case.
            return !n.hasPrefix(".") && [".npz", ".npy", ".nii", ".nii.gz", ".png"].contains { l.hasSuffix($0) }
                && OutputPaths.isFile((dir as NSString).appendingPathComponent(n))
        }.sorted()
    }

    static func csvText(_ results: [CaseResult]) -> String {
        var s = "case,dsc,nsd\n"
        for r in results {
            let (d, n) = r.score.map { ($0.dsc, $0.nsd) } ?? (0, 0)
            s += "\(csvField(r.name)),\(f4(d)),\(f4(n))\n"
        }
        return s
    }

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func jsonText(_ results: [CaseResult], tolerance: Double, meanDSC: Double, meanNSD: Double) throws -> String {
        func num(_ v: Double) -> Any { v.isNaN ? NSNull() : v }
        let cases: [[String: Any]] = results.map { r in
            guard let s = r.score else {
                return r.error.map { ["case": r.name, "missing": false, "error": $0, "dsc": 0, "nsd": 0] }
                    ?? ["case": r.name, "missing": true, "dsc": 0, "nsd": 0]
            }
            return ["case": r.name, "missing": false, "dsc": num(s.dsc), "nsd": num(s.nsd),
                    "labels": s.labels.map { ["label": $0.label, "dsc": num($0.dsc), "nsd": num($0.nsd)] }]
        }
        let root: [String: Any] = ["tolerance": tolerance, "cases": cases,
                                   "mean": ["dsc": num(meanDSC), "nsd": num(meanNSD)],
                                   "missing": results.filter(\.isMissing).map(\.name),
                                   "not_scored": results.filter { $0.error != nil }.map(\.name)]
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// Four decimals, like the official script's rounding; "nan" for NaN.
func f4(_ v: Double) -> String { v.isNaN ? "nan" : String(format: "%.4f", v) }

/// Mean ignoring NaNs (NaN when every value is NaN or there are none).
func nanMean(_ v: [Double]) -> Double {
    let ok = v.filter { !$0.isNaN }
    return ok.isEmpty ? .nan : ok.reduce(0, +) / Double(ok.count)
}
