import XCTest
import Volumes
@testable import Workbench

final class CLITests: XCTestCase {
    func testHelpListsEveryCommandAndEachCommandHasHelp() throws {
        let top = try CLI.run(["--help"])
        XCTAssertEqual(top.status, 0)
        for name in ["open", "info", "segment", "eval", "bench", "convert"] {
            XCTAssertTrue(top.stdout.contains("  \(name) "), top.stdout)
            let r = try CLI.run([name, "--help"])
            XCTAssertEqual(r.status, 0)
            XCTAssertTrue(r.stdout.hasPrefix("medseg \(name) — "), r.stdout)
            // Folded to an 80-column terminal, an option in brackets on one line.
            for line in r.stdout.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 80, "\(name): \(line)") }
            XCTAssertFalse(r.stdout.contains("[--precision\n"), r.stdout)
        }
        for line in top.stdout.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 80, String(line)) }
        // Without a command: a usage error, the help on standard error.
        let none = try CLI.run([])
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stdout.isEmpty && none.stderr.contains("Usage: medseg <command>"), none.stderr)
    }

    /// Help text folds at word boundaries, hand-checked.
    func testTextWrapFoldsAtWords() {
        XCTAssertEqual(TextWrap.lines("aa bb cc dd", first: 2, indent: 2, width: 8), ["aa bb", "  cc dd"])
        XCTAssertEqual(TextWrap.lines("abcdefghij k", width: 5), ["abcdefghij", "k"])
        XCTAssertEqual(TextWrap.paragraphs("a\nb\n\nc", width: 80), "a b\n\nc")
    }

    func testUnknownCommandAndOptionGiveOneLineWithHint() throws {
        let c = try CLI.run(["evla"])
        XCTAssertEqual(c.status, 2)
        XCTAssertEqual(c.stderr, "medseg: error: unknown command 'evla'; did you mean 'eval'? (see 'medseg --help')\n")
        let dash = try CLI.run(["--bogus"])
        XCTAssertEqual(dash.status, 2)
        XCTAssertTrue(dash.stderr.contains("unknown option '--bogus'; options come after the command"), dash.stderr)
        // A missing file is said alike by every command.
        for args in [["info", "/no/such.npz"], ["eval", "--pred", "/no/such.npz", "--gt", "/no/such.npz"], ["segment", "/no/such.npz", "-o", "/tmp/x"]] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("/no/such.npz: No such file or directory"), r.stderr)
        }
        let o = try CLI.run(["eval", "--pred", "a", "--gt", "b", "--tolerence", "1"])
        XCTAssertEqual(o.status, 2)
        XCTAssertTrue(o.stderr.contains("unknown option '--tolerence'") && o.stderr.contains("did you mean '--tolerance'?"), o.stderr)
        XCTAssertEqual(o.stderr.filter { $0 == "\n" }.count, 1)
        let v = try CLI.run(["eval", "--pred", "a", "--gt", "b", "--tolerance", "-1"])
        XCTAssertEqual(v.status, 2)
        XCTAssertTrue(v.stderr.contains("--tolerance takes a number >= 0"), v.stderr)
    }

    /// --precision takes int8, bf16 or fp32; bf16 only where the CPU has bf16 dot products (the
    /// error comes before any model is loaded or any input read).
    func testPrecisionIsCheckedBeforeWork() throws {
        let bad = try CLI.run(["segment", "/nonexistent.npz", "-o", "/tmp/x", "--precision", "int4"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr, "medseg: error: --precision takes int8, bf16 or fp32, not 'int4'\n")
        let off = try CLI.run(["bench", "--precision", "bf16", "--runs", "1"], environment: ["MEDSEG_CPU_FLAGS_OFF": "avx512_bf16,amx_bf16"])
        XCTAssertEqual(off.status, 2)
        XCTAssertTrue(off.stderr.contains("--precision bf16 needs a CPU with bf16 dot products"), off.stderr)
        XCTAssertEqual(off.stderr.filter { $0 == "\n" }.count, 1)
        XCTAssertTrue(try CLI.run(["segment", "--help"]).stdout.contains("--precision int8|bf16|fp32"))
    }

    /// gt: label 1 a 4x4 square; pred: the same square moved 2 columns. Overlap 8 of 16+16 -> DSC 0.5.
    /// `open` without a terminal says so and leaves nothing behind (a recovery lock file stayed).
    func testOpenWithoutATerminalLeavesNoLockFile() throws {
        let dir = try temporaryDirectory(self)
        let image = dir.appendingPathComponent("i.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [8, 8], values: [UInt8](repeating: 3, count: 64)))], to: image)
        let home = dir.appendingPathComponent("home").path
        let r = try CLI.run(["open", image], environment: ["MEDSEG_HOME": home])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderr, "medseg: error: medseg open needs a terminal (stdin and stdout must be a tty)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/recovery"))
    }

    func testEvalTwoFilesHandWorkedDice() throws {
        let dir = try temporaryDirectory(self)
        var gt = [UInt8](repeating: 0, count: 100), pred = gt
        for y in 3..<7 { for x in 3..<7 { gt[y * 10 + x] = 1; pred[y * 10 + x + 2] = 1 } }
        let g = dir.appendingPathComponent("gt.npz").path, p = dir.appendingPathComponent("pred.npz").path
        try Npz.write([(name: "gts", array: NDArray(shape: [10, 10], values: gt))], to: g)
        try Npz.write([(name: "segs", array: NDArray(shape: [10, 10], values: pred))], to: p)
        let csv = dir.appendingPathComponent("m.csv").path, json = dir.appendingPathComponent("m.json").path
        let r = try CLI.run(["eval", "--pred", p, "--gt", g, "--csv", csv, "--json", json])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "case,dsc,nsd")
        XCTAssertTrue(rows[1].hasPrefix("gt.npz,0.5000,"), String(rows[1]))
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        let cases = obj["cases"] as! [[String: Any]]
        let labels = cases[0]["labels"] as! [[String: Any]]
        XCTAssertEqual(labels[0]["label"] as? Int, 1)
        XCTAssertEqual(labels[0]["dsc"] as! Double, 0.5, accuracy: 1e-12)
        // `-` is standard output, alone (the table goes to stderr); /dev/stdout follows the table.
        let dash = try CLI.run(["eval", "--pred", p, "--gt", g, "--csv", "-"])
        XCTAssertEqual(dash.status, 0, dash.stderr)
        XCTAssertTrue(dash.stdout.hasPrefix("case,dsc,nsd\ngt.npz,0.5000,"), dash.stdout)
        XCTAssertTrue(dash.stderr.contains("gt.npz   mean  0.5000"), dash.stderr)
        let dev = try CLI.run(["eval", "--pred", p, "--gt", g, "--csv", "/dev/stdout"])
        XCTAssertEqual(dev.status, 0, dev.stderr)
        XCTAssertTrue(dev.stdout.hasPrefix("case    label"), dev.stdout)
        XCTAssertTrue(dev.stdout.hasSuffix("case,dsc,nsd\ngt.npz,0.5000,1.0000\n"), dev.stdout)
        // Standard output on a full disk: an error and exit 1, not a silent loss.
        let full = Process()
        full.executableURL = CLI.executable
        full.arguments = ["eval", "--pred", p, "--gt", g, "--csv", "-"]
        full.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let fullErr = Pipe()
        full.standardError = fullErr
        try full.run()
        full.waitUntilExit()
        let fullText = String(decoding: fullErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(full.terminationStatus, 1, fullText)
        XCTAssertTrue(fullText.contains("standard output: write failed: No space left on device"), fullText)
        // An output that cannot be written is found before scoring: no table printed.
        for bad in [dir.path, dir.appendingPathComponent("no/such.csv").path, "/proc/no-such.csv"] {
            let r = try CLI.run(["eval", "--pred", p, "--gt", g, "--csv", bad])
            XCTAssertEqual(r.status, 1, bad)
            XCTAssertEqual(r.stdout, "", bad)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }

    /// Labels below the largest that are in neither file score nan (the challenge's rule): said
    /// once on stderr, and a run of them is one table row (not 60,000 rows for label 60000).
    func testEvalLabelsInNeitherFileAreSaidAndFolded() throws {
        let dir = try temporaryDirectory(self)
        var gt = [UInt16](repeating: 0, count: 64)
        gt[9] = 1; gt[20] = 3; gt[40] = 9
        let g = dir.appendingPathComponent("gt.npz").path, p = dir.appendingPathComponent("pred.npz").path
        try Npz.write([(name: "gts", array: NDArray(shape: [8, 8], values: gt))], to: g)
        try Npz.write([(name: "segs", array: NDArray(shape: [8, 8], values: gt))], to: p)
        let r = try CLI.run(["eval", "--pred", p, "--gt", g])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("gt.npz: 6 labels below the largest in neither file (2, 4-8) score DSC nan"), r.stderr)
        let rows = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.filter { $0.hasPrefix("gt.npz") }, ["gt.npz      1  1.0000  0.0000", "gt.npz      2     nan  0.0000",
                                                              "gt.npz      3  1.0000  0.0000", "gt.npz    4-8     nan  0.0000  (in neither file)",
                                                              "gt.npz      9  1.0000  0.0000", "gt.npz   mean     nan  0.0000"])
        XCTAssertEqual(LabelList.text([8, 1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8")
        // A run too wide for the label column keeps the columns aligned.
        gt[40] = 0; gt[41] = 3000
        try Npz.write([(name: "gts", array: NDArray(shape: [8, 8], values: gt))], to: g)
        try Npz.write([(name: "segs", array: NDArray(shape: [8, 8], values: gt))], to: p)
        let wide = try CLI.run(["eval", "--pred", p, "--gt", g]).stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(wide.contains("gt.npz      4     nan  0.0000  (labels 4-2999, in neither file)"), "\(wide)")
    }

    func testEvalDirectoriesReportMissingPredictionAndExitOne() throws {
        let dir = try temporaryDirectory(self)
        let gts = dir.appendingPathComponent("gts"), preds = dir.appendingPathComponent("preds")
        for d in [gts, preds] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let mask = NDArray(shape: [1, 6, 6], values: (0..<36).map { UInt8($0 % 6 < 3 ? 1 : 2) })
        let spacing = NDArray(shape: [3], values: [2.5, 1.0, 1.0])
        for name in ["3DA.npz", "3DB.npz"] {
            try Npz.write([(name: "gts", array: mask), (name: "spacing", array: spacing)], to: gts.appendingPathComponent(name).path)
        }
        try Npz.write([(name: "segs", array: mask)], to: preds.appendingPathComponent("3DA.npz").path)
        let csv = dir.appendingPathComponent("m.csv").path
        let r = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, "--csv", csv])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no prediction for 3DB.npz"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: csv, encoding: .utf8),
                       "case,dsc,nsd\n3DA.npz,1.0000,1.0000\n3DB.npz,0.0000,0.0000\n")
        XCTAssertTrue(r.stdout.contains("2 cases (1 missing, scored 0): mean DSC 0.5000, mean NSD 0.5000"), r.stdout)
    }

    /// From the third QA pass: a ground-truth case that is a symlink to nothing is counted (it
    /// was left out of the mean), and a prediction's own `spacing` is not judged (NaN there
    /// refused the case, though only the ground truth's spacing is used).
    func testEvalCountsDanglingCasesAndIgnoresThePredictionsSpacing() throws {
        let dir = try temporaryDirectory(self)
        let gts = dir.appendingPathComponent("gts"), preds = dir.appendingPathComponent("preds")
        for d in [gts, preds] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let mask = NDArray(shape: [1, 6, 6], values: (0..<36).map { UInt8($0 % 6 < 3 ? 1 : 2) })
        try Npz.write([(name: "gts", array: mask), (name: "spacing", array: NDArray(shape: [3], values: [2.5, 1.0, 1.0]))],
                      to: gts.appendingPathComponent("3DA.npz").path)
        try FileManager.default.createSymbolicLink(atPath: gts.appendingPathComponent("3DB.npz").path, withDestinationPath: "/nonexistent/3DB.npz")
        try Npz.write([(name: "segs", array: mask), (name: "spacing", array: NDArray(shape: [3], values: [Double.nan, 1, 1]))],
                      to: preds.appendingPathComponent("3DA.npz").path)
        let r = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("2 cases (1 missing, scored 0): mean DSC 0.5000, mean NSD 0.5000"), r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("3DB.npz  missing") && !r.stdout.contains("not scored"), r.stdout)
    }

    /// `info` lists labels without a copy of the volume (a 512x512x800 one took 1.9 GB), with
    /// the same counts and the same refusal of values no label can be.
    func testInfoCountsLabelsInTheStoredType() throws {
        let dir = try temporaryDirectory(self)
        let labels = (0..<(4 * 5 * 6)).map { Int16($0 % 7 == 0 ? 3 : ($0 % 5 == 0 ? 300 : 0)) }
        let path = dir.appendingPathComponent("l.npy").path
        try Npy.write(NDArray(shape: [4, 5, 6], values: labels), to: path)
        let r = try CLI.run(["info", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        // Hand-counted: multiples of 7 below 120 (18), multiples of 5 that are not (24 - 4 = 20).
        XCTAssertTrue(r.stdout.contains("2 labels: 3 (18 voxels) 300 (20)"), r.stdout)
        XCTAssertEqual(NDArray(shape: [3], values: [Int16(1), 1, 2]).distinctValues(upTo: 128), 2)
        XCTAssertEqual(NDArray(shape: [300], values: (0..<300).map { Int16($0) }).distinctValues(upTo: 128), 129)
        let negative = dir.appendingPathComponent("n.npy").path
        try Npy.write(NDArray(shape: [2, 2], values: [Int16(0), 1, -4, 2]), to: negative)
        XCTAssertTrue(try CLI.run(["info", "--labels", negative]).stdout.contains("not listed as labels: a label map holds -4"))
    }

    func testEvalRefusesShapeMismatchAndMissingKey() throws {
        let dir = try temporaryDirectory(self)
        let g = dir.appendingPathComponent("g.npz").path, p = dir.appendingPathComponent("p.npz").path
        try Npz.write([(name: "gts", array: NDArray(shape: [4, 4], values: [UInt8](repeating: 1, count: 16)))], to: g)
        try Npz.write([(name: "segs", array: NDArray(shape: [4, 5], values: [UInt8](repeating: 1, count: 20)))], to: p)
        let r = try CLI.run(["eval", "--pred", p, "--gt", g])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("prediction shape [4, 5] differs from ground truth [4, 4]"), r.stderr)
        try Npz.write([(name: "imgs", array: NDArray(shape: [4, 4], values: [UInt8](repeating: 1, count: 16)))], to: p)
        let k = try CLI.run(["eval", "--pred", p, "--gt", g])
        XCTAssertEqual(k.status, 1)
        XCTAssertTrue(k.stderr.contains("p.npz: no `segs` array (it has: imgs)"), k.stderr)
    }

    func testInfoDescribesChallengeNpz() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("3DBox_CT_demo.npz").path
        let gts = NDArray(shape: [2, 3, 4], values: [UInt8]([0, 1, 1, 0, 2, 2, 2, 0, 0, 0, 0, 0] + [UInt8](repeating: 3, count: 12)))
        try Npz.write([(name: "imgs", array: NDArray(shape: [2, 3, 4], values: [UInt8](0..<24))),
                       (name: "gts", array: gts),
                       (name: "boxes", array: NDArray(shape: [1, 6], values: [Int64(0), 0, 0, 3, 2, 1])),
                       (name: "spacing", array: NDArray(shape: [3], values: [2.5, 0.7, 0.7]))], to: path)
        let r = try CLI.run(["info", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("npz (challenge case, 3D)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("imgs     uint8 (2, 3, 4)  values 0 .. 23"), r.stdout)
        XCTAssertTrue(r.stdout.contains("3 labels: 1 (2 voxels) 2 (3) 3 (12)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("box 1: x 0..3  y 0..2  z 0..1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("values 2.5 x 0.7 x 0.7"), r.stdout)
    }

    /// A damaged array is described as such and makes the exit status 1; `imgs` of a shape no
    /// case has is not called a case; a plane's labels count pixels.
    func testInfoFlagsDamageAndShapesNoCaseHas() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("liar.npz").path
        try Npz.write([(name: "gts", array: NDArray(shape: [2, 3], values: [UInt8](repeating: 1, count: 6)))], to: path, compressed: false)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let text = Array("(2, 3)".utf8)
        let at = try XCTUnwrap((0...(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text })
        bytes.replaceSubrange(at..<(at + text.count), with: Array("(9, 3)".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try CLI.run(["info", path])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("gts      not read: `gts`: header promises 27 bytes of data but the member holds 6"), r.stdout)
        XCTAssertTrue(r.stderr.contains("liar.npz: 1 of its arrays could not be read (damaged)"), r.stderr)

        let odd = dir.appendingPathComponent("odd.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [2, 1, 2, 2], values: [UInt8](repeating: 1, count: 8))),
                       (name: "gts", array: NDArray(shape: [2, 2], values: [UInt8]([0, 1, 1, 2])))], to: odd)
        let o = try CLI.run(["info", odd])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stdout.contains("npz (not a challenge case: `imgs` (2, 1, 2, 2) is not (H,W), (H,W,3) or (D,H,W))"), o.stdout)
        XCTAssertTrue(o.stdout.contains("2 labels: 1 (2 pixels) 2 (1)"), o.stdout)
        let empty = dir.appendingPathComponent("3DBox_empty.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [0, 4, 4], values: [UInt8]()))], to: empty)
        XCTAssertTrue(try CLI.run(["info", empty]).stdout.contains("npz (not a challenge case: `imgs` (0, 4, 4) is empty)"))
    }

    /// QA round two: int64 values from 2^63 up (a trap in the label check), long array names,
    /// a 2D-named stack, an option where a value should be, a report path ending in /, and a
    /// replaced report keeping its permissions.
    func testInfoAndEvalEdgesFromTheSecondQAPass() throws {
        let dir = try temporaryDirectory(self)
        let big = dir.appendingPathComponent("big.npz").path
        try Npz.write([(name: "a_really_long_name", array: NDArray(shape: [2], values: [Int64.max, 0])),
                       (name: "u", array: NDArray(shape: [1], values: [UInt64.max]))], to: big)
        let r = try CLI.run(["info", big])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("  a_really_long_name int64 (2,)"), r.stdout)
        // Written in full, not through a Double (1.84467e+19).
        XCTAssertTrue(r.stdout.contains("values 0 .. 9223372036854775807"), r.stdout)
        XCTAssertTrue(r.stdout.contains("uint64 (1,)  values 18446744073709551615 .. 18446744073709551615"), r.stdout)
        let stack = dir.appendingPathComponent("2DBox_stack.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [3, 4, 4], values: [UInt8](repeating: 1, count: 48)))], to: stack)
        XCTAssertTrue(try CLI.run(["info", stack]).stdout.contains("not a challenge case: a 2D case's `imgs` is (H,W) or (H,W,3), not (3, 4, 4)"))

        let gt = dir.appendingPathComponent("gt.npz").path, pred = dir.appendingPathComponent("pred.npz").path
        try Npz.write([(name: "gts", array: NDArray(shape: [2, 2], values: [UInt8]([0, 1, 1, 0])))], to: gt)
        try Npz.write([(name: "segs", array: NDArray(shape: [2, 2], values: [UInt8]([0, 1, 1, 0])))], to: pred)
        let swallowed = try CLI.run(["eval", "--pred", pred, "--gt", gt, "--json", "--csv", "x.csv"], in: dir)
        XCTAssertEqual(swallowed.status, 2)
        XCTAssertTrue(swallowed.stderr.contains("--json needs a value (FILE) before --csv"), swallowed.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("--csv").path))
        let slash = try CLI.run(["eval", "--pred", pred, "--gt", gt, "--csv", "r.csv/"], in: dir)
        XCTAssertEqual(slash.status, 1)
        XCTAssertTrue(slash.stderr.contains("r.csv/: ends with / (a folder's name, not a file's) (--csv)"), slash.stderr)
        XCTAssertTrue(slash.stdout.isEmpty, "refused before scoring: \(slash.stdout)")
        let csv = dir.appendingPathComponent("m.csv").path
        try "case,dsc,nsd\n".write(toFile: csv, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(csv, 0o600), 0)
        XCTAssertEqual(try CLI.run(["eval", "--pred", pred, "--gt", gt, "--csv", csv]).status, 0)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: csv)[.posixPermissions] as? Int, 0o600)
    }

    /// Arrays medseg cannot read (a string, a pickle) beside a ground truth: info describes the
    /// others and says which it could not read; eval scores the case. A 3D ground truth without
    /// `spacing` is scored at 1 mm, with a warning; a pipe is refused, not waited on.
    func testInfoAndEvalReadAroundWhatTheyCannotRead() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("VolumesTests/Fixtures/npy/3DBox_extra_keys.npz").path
        let info = try CLI.run(["info", fixture])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("2 labels: 1 (2 voxels) 2 (1)"), info.stdout)
        XCTAssertTrue(info.stdout.contains("modality not read:") && info.stdout.contains("unsupported dtype"), info.stdout)
        XCTAssertTrue(info.stdout.contains("meta     not read:"), info.stdout)
        let dir = try temporaryDirectory(self)
        var labels = [UInt8](repeating: 0, count: 24)
        (labels[5], labels[6], labels[23]) = (1, 1, 2)
        let pred = dir.appendingPathComponent("p.npz").path
        try Npz.write([(name: "segs", array: NDArray(shape: [2, 3, 4], values: labels))], to: pred)
        let e = try CLI.run(["eval", "--pred", pred, "--gt", fixture])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(e.stdout.contains("mean  1.0000  1.0000"), e.stdout)
        XCTAssertFalse(e.stderr.contains("spacing"), e.stderr)
        let bare = dir.appendingPathComponent("gt.npz").path
        try Npz.write([(name: "gts", array: NDArray(shape: [2, 3, 4], values: labels))], to: bare)
        let w = try CLI.run(["eval", "--pred", pred, "--gt", bare])
        XCTAssertEqual(w.status, 0, w.stderr)
        XCTAssertTrue(w.stderr.contains("gt.npz: no `spacing` array; voxels taken as 1 mm for NSD"), w.stderr)
        let fifo = dir.appendingPathComponent("labels.nii").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/dangling.npz", withDestinationPath: "/nowhere/at-all/x.npz")
        let f = try CLI.run(["info", fifo])
        XCTAssertEqual(f.status, 1)
        XCTAssertTrue(f.stderr.contains("labels.nii: is a pipe, not a file"), f.stderr)
        // Files that fail leave no blank lines; those described are one blank line apart.
        let two = try CLI.run(["info", fifo, bare, fifo, bare])
        XCTAssertEqual(two.status, 1)
        XCTAssertTrue(two.stdout.hasPrefix(bare + "\n"), two.stdout)
        XCTAssertEqual(two.stdout.components(separatedBy: "\n\n").count, 2, two.stdout)
        let m = try CLI.run(["segment", bare, "-o", dir.appendingPathComponent("o").path, "--model", fifo])
        XCTAssertEqual(m.status, 1)
        XCTAssertTrue(m.stderr.contains("is a pipe, not a file"), m.stderr)
    }

    /// `convert --output` replaces an earlier model file only, never a checkpoint or any other file.
    func testConvertReplacesOnlyAModelFile() throws {
        let dir = try temporaryDirectory(self)
        let checkpoint = dir.appendingPathComponent("ck.pth").path, other = dir.appendingPathComponent("finetuned.pth").path
        try Data("a checkpoint".utf8).write(to: URL(fileURLWithPath: checkpoint))
        try Data("someone's weights".utf8).write(to: URL(fileURLWithPath: other))
        let r = try CLI.run(["convert", "--checkpoint", checkpoint, "--output", other])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("exists and is not a medseg model file; it is left as it is"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: other, encoding: .utf8), "someone's weights")
    }

    func testInfoOnBadFilesFailsWithOneLinePerFile() throws {
        let dir = try temporaryDirectory(self)
        let junk = dir.appendingPathComponent("junk.npz").path
        try Data("not a zip at all".utf8).write(to: URL(fileURLWithPath: junk))
        let r = try CLI.run(["info", junk, dir.appendingPathComponent("absent.nii.gz").path])
        XCTAssertEqual(r.status, 1)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stderr)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("medseg: error: ") && $0.contains(dir.path) }, r.stderr)
    }

    /// One case that cannot be scored (shapes differ) is reported and scored 0; the others are
    /// scored and the CSV is written. --csv must not name an input, nor the --json file.
    func testEvalScoresTheOtherCasesWhenOneCannotBeScored() throws {
        let dir = try temporaryDirectory(self)
        let gts = dir.appendingPathComponent("gts"), preds = dir.appendingPathComponent("preds")
        for d in [gts, preds] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let mask = NDArray(shape: [4, 4], values: (0..<16).map { UInt8($0 % 4 < 2 ? 1 : 0) })
        for name in ["a.npz", "b.npz"] { try Npz.write([(name: "gts", array: mask)], to: gts.appendingPathComponent(name).path) }
        try Npz.write([(name: "segs", array: NDArray(shape: [4, 5], values: [UInt8](repeating: 1, count: 20)))],
                      to: preds.appendingPathComponent("a.npz").path)
        try Npz.write([(name: "segs", array: mask)], to: preds.appendingPathComponent("b.npz").path)
        let csv = dir.appendingPathComponent("m.csv").path
        let r = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, "--csv", csv])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("a.npz: prediction shape [4, 5] differs from ground truth [4, 4]"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: csv, encoding: .utf8), "case,dsc,nsd\na.npz,0.0000,0.0000\nb.npz,1.0000,1.0000\n")
        XCTAssertTrue(r.stdout.contains("2 cases (1 not scored, scored 0): mean DSC 0.5000, mean NSD 0.5000"), r.stdout)
        let gt = gts.appendingPathComponent("a.npz").path
        let over = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, "--csv", gt])
        XCTAssertEqual(over.status, 1)
        XCTAssertTrue(over.stderr.contains("writing it would replace the input"), over.stderr)
        XCTAssertNotNil(try Npz.read(path: gt).first { $0.name == "gts" })
        // Another file of that name is no report to replace; an earlier report is.
        let notes = dir.appendingPathComponent("notes.txt").path
        try "keep me\n".write(toFile: notes, atomically: true, encoding: .utf8)
        for (flag, path) in [("--csv", notes), ("--json", notes), ("--json", csv)] {
            let kept = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, flag, path])
            XCTAssertEqual(kept.status, 1, kept.stderr)
            XCTAssertTrue(kept.stderr.contains("\(flag) \(path) already exists and is not an earlier eval"), kept.stderr)
        }
        XCTAssertEqual(try String(contentsOfFile: notes, encoding: .utf8), "keep me\n")
        XCTAssertTrue(try String(contentsOfFile: csv, encoding: .utf8).hasPrefix("case,dsc,nsd\n"))
        let json = dir.appendingPathComponent("m.json").path
        for _ in 0..<2 {   // the second run replaces the first's CSV and JSON
            XCTAssertEqual(try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, "--csv", csv, "--json", json]).status, 1)
        }
        XCTAssertTrue(try String(contentsOfFile: json, encoding: .utf8).hasPrefix("{\n  \"cases\""))
        // The same new file spelled two ways is one file.
        let twoWays = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, "--csv", "m2.csv", "--json", "./m2.csv"], in: dir)
        XCTAssertEqual(twoWays.status, 2, twoWays.stderr)
        let same = try CLI.run(["eval", "--pred", preds.path, "--gt", gts.path, "--csv", csv, "--json", csv])
        XCTAssertEqual(same.status, 2)
        XCTAssertTrue(same.stderr.contains("--csv and --json name the same file"), same.stderr)
    }

    /// An RGB (H, W, 3) case is 2D, as segment reads it; a float image's NaN are counted.
    func testInfoCallsAnRGBCaseTwoDAndCountsNaN() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("2DBox_rgb.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [2, 2, 3], values: [Float](repeating: 1, count: 11) + [.nan]))], to: path)
        let r = try CLI.run(["info", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("npz (challenge case, 2D)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("values 1 .. 1  (1 NaN)"), r.stdout)
        // An integer case image with few levels is not listed as labels.
        try Npz.write([(name: "imgs", array: NDArray(shape: [2, 2, 3], values: [UInt8](repeating: 7, count: 12)))], to: path)
        let few = try CLI.run(["info", path])
        XCTAssertFalse(few.stdout.contains("label"), few.stdout)
        // Boxes segment would refuse are said to be so, not left out silently.
        try Npz.write([(name: "imgs", array: NDArray(shape: [4, 4], values: [UInt8](repeating: 1, count: 16))),
                       (name: "boxes", array: NDArray(shape: [2, 4], values: [0.0, 0, 2, 2, .nan, 0, 2, 2]))], to: path)
        let b = try CLI.run(["info", path])
        XCTAssertTrue(b.stdout.contains("not usable as boxes: `boxes` holds nan"), b.stdout)
    }

    /// `info` names the side of the patient each NIfTI axis points to, from the sform (as
    /// nibabel's aff2axcodes would), and says when the header gives no orientation.
    func testInfoNamesTheAxesOfANifti() throws {
        let dir = try temporaryDirectory(self)
        let data = NDArray(shape: [2, 3, 4], values: [UInt8](0..<24))
        func geometry(_ sform: [[Double]], code: Int32) -> NiftiGeometry {
            NiftiGeometry(pixdim: [1, 1, 1, 1, 1, 1, 1], qformCode: 0, sformCode: code, quatern: [0, 0, 0, 0, 0, 0, 1],
                          sform: sform, xyzUnits: 2, timeUnits: 0, niftiVersion: 1)
        }
        let lps = [[-0.8, 0, 0, 0], [0, -0.8, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]]
        let sagittal = [[0, 0, -1.0, 0], [1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]]   // x -> A, y -> I, z -> L
        for (name, sform, code, want) in [("lps", lps, Int32(1), "LPS (x towards L, y towards P, z towards S)"),
                                          ("sag", sagittal, 2, "AIL (x towards A, y towards I, z towards L)"),
                                          ("none", lps, 0, "orientation unknown (no qform or sform code)")] {
            let path = dir.appendingPathComponent("\(name).nii.gz").path
            try Nifti.write(data, to: path, geometry: geometry(sform, code: code))
            let r = try CLI.run(["info", path])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("axes     " + want), r.stdout)
        }
    }

    /// NIfTI files of the same shape stored in different orientations are not scored voxel by
    /// voxel: eval says so and exits 1; the same grid scores.
    func testEvalRefusesAPredictionOnAnotherGrid() throws {
        let dir = try temporaryDirectory(self)
        let labels = NDArray(shape: [2, 3, 4], values: [UInt8](repeating: 0, count: 12) + [UInt8](repeating: 1, count: 12))
        func geometry(_ sform: [[Double]]) -> NiftiGeometry {
            NiftiGeometry(pixdim: [1, 1, 1, 1, 1, 1, 1], qformCode: 0, sformCode: 1, quatern: [0, 0, 0, 0, 0, 0, 1],
                          sform: sform, xyzUnits: 2, timeUnits: 0, niftiVersion: 1)
        }
        let ras = [[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        let las = [[-1.0, 0, 0, 3], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        let gt = dir.appendingPathComponent("gt.nii.gz").path, same = dir.appendingPathComponent("same.nii.gz").path
        let other = dir.appendingPathComponent("other.nii.gz").path
        try Nifti.write(labels, to: gt, geometry: geometry(ras))
        try Nifti.write(labels, to: same, geometry: geometry(ras))
        try Nifti.write(labels, to: other, geometry: geometry(las))
        let ok = try CLI.run(["eval", "--pred", same, "--gt", gt])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("mean DSC 1.0000"), ok.stdout)
        let bad = try CLI.run(["eval", "--pred", other, "--gt", gt])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stdout.contains("not scored"), bad.stdout)
        XCTAssertTrue(bad.stderr.contains("does not lie on the ground truth's grid: their x axes point different ways"), bad.stderr)
        // The workbench refuses such a ground truth before it opens.
        let shown = try CLI.run(["open", gt, "--gt", other, "--out", dir.appendingPathComponent("seg.nii.gz").path])
        XCTAssertEqual(shown.status, 1)
        XCTAssertTrue(shown.stderr.contains("the ground truth does not lie on the image's grid"), shown.stderr)
    }

    /// libnifti's own "** ERROR" lines stay out of the one-line error.
    func testBadNiftiHeaderGivesOneLine() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("bad.nii").path
        var header = [UInt8](repeating: 0, count: 352)
        header.withUnsafeMutableBytes { b in
            b.storeBytes(of: Int32(348), toByteOffset: 0, as: Int32.self)          // sizeof_hdr
            b.storeBytes(of: Int16(9), toByteOffset: 40, as: Int16.self)           // dim[0]: 9 dimensions
            for k in 1...7 { b.storeBytes(of: Int16(1), toByteOffset: 40 + 2 * k, as: Int16.self) }
            b.storeBytes(of: Int16(2), toByteOffset: 70, as: Int16.self)           // uint8
            b.storeBytes(of: Int16(8), toByteOffset: 72, as: Int16.self)
            b.storeBytes(of: Float(352), toByteOffset: 108, as: Float.self)        // vox_offset
            for (k, c) in "n+1\0".utf8.enumerated() { b[344 + k] = c }
        }
        try Data(header + [0]).write(to: URL(fileURLWithPath: path))
        let r = try CLI.run(["info", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("medseg: error: ") && r.stderr.contains("bad.nii"), r.stderr)
    }

    func testInfoRefusesContradictoryLabelFlags() throws {
        let r = try CLI.run(["info", "x.npz", "--labels", "--no-labels"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--labels and --no-labels contradict each other"), r.stderr)
    }

    func testBenchRefusesAStrayArgument() throws {
        let r = try CLI.run(["bench", "case.npz"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("bench takes no positional arguments; got 'case.npz'"), r.stderr)
    }

    /// `open --out` naming the image or its ground truth is refused before the screen opens
    /// (`w` would have written the masks over them).
    func testOpenRefusesAnOutputOverItsInputs() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("2DBox_x.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [4, 4], values: [UInt8](repeating: 1, count: 16)))], to: path)
        let r = try CLI.run(["open", path, "--out", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--out \(path) is the input \(path)"), r.stderr)
        XCTAssertEqual(try Npz.read(path: path).map(\.name), ["imgs"])
        // What `w` would refuse is refused at the start, before the screen opens.
        let fifo = dir.appendingPathComponent("f.npz").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/dangling.npz", withDestinationPath: "/nowhere/at-all/x.npz")
        for (out, why) in [(dir.path + "/", "is a directory"), (fifo, "is not a regular file"), (dir.path + "/x.tif", "unknown extension"),
                           (dir.path + "/no/x.npz", "does not exist"), (dir.path + "/dangling.npz", "directory /nowhere/at-all does not exist")] {
            let refused = try CLI.run(["open", path, "--out", out])
            XCTAssertEqual(refused.status, 1, out)
            XCTAssertTrue(refused.stderr.contains("--out: ") && refused.stderr.contains(why), refused.stderr)
        }
    }
}
