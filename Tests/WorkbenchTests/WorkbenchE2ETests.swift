import XCTest
#if canImport(Glibc)
import Glibc
#endif
import Volumes

/// Drives `medseg open` on the demo MR inside tmux as a person would: types a box, segments,
/// saves, quits, and checks the saved NIfTI against the AAL ground truth.
final class WorkbenchE2ETests: XCTestCase {
    var socket = ""

    /// Runs a tmux client through `/bin/sh` with posix_spawn and waitpid. Not Foundation's
    /// `Process`: on Linux it detects exit through a socket the child inherits, and the tmux server
    /// that `new-session` daemonises keeps that socket open, so `waitUntilExit` never returns.
    func tmux(_ args: [String]) throws -> String {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-tmux-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let line = (["tmux", "-L", socket] + args).map(quote).joined(separator: " ") + " >\(quote(outPath)) 2>/dev/null </dev/null"
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Only 0-2 survive into the shell; everything else the test process holds is closed.
        for fd in 3..<256 { posix_spawn_file_actions_addclose(&actions, Int32(fd)) }
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", line]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
        guard rc == 0 else { throw NSError(domain: "tmux", code: Int(rc)) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    func screen(colors: Bool = false) throws -> String { try tmux(["capture-pane", "-p"] + (colors ? ["-e"] : []) + ["-t", "e2e"]) }

    /// Polls the screen until `text` shows up (or the timeout passes).
    @discardableResult
    func waitFor(_ text: String, seconds: Double = 60) throws -> String {
        let end = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < end {
            last = try screen()
            if last.contains(text) { return last }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTFail("'\(text)' did not appear within \(seconds) s; screen:\n\(last)")
        return last
    }

    func keys(_ k: String...) throws { _ = try tmux(["send-keys", "-t", "e2e"] + k); Thread.sleep(forTimeInterval: 0.3) }

    /// A mouse event as a terminal reports it in SGR mode (1-based cell, button code: 0 press,
    /// 32 drag with the first button, 64/65 wheel), typed into the pane.
    func mouse(_ button: Int, col: Int, row: Int, release: Bool = false) throws {
        _ = try tmux(["send-keys", "-t", "e2e", "-l", "\u{1B}[<\(button);\(col);\(row)\(release ? "m" : "M")"])
        Thread.sleep(forTimeInterval: 0.2)
    }

    /// The data home (the model and the demo) and the demo's folder; skips without them or tmux.
    func installedDemo() throws -> (home: String, demo: String) {
        let home = medsegHome()
        let demo = home + "/demo"
        guard FileManager.default.fileExists(atPath: demo + "/ch2.nii.gz"), FileManager.default.fileExists(atPath: home + "/models/lite_medsam.pth") else {
            throw XCTSkip("demo or model not installed (scripts/setup.sh installs them)")
        }
        guard FileManager.default.fileExists(atPath: "/usr/bin/tmux") else { throw XCTSkip("tmux not installed (scripts/setup.sh installs it)") }
        return (home, demo)
    }

    /// A fresh folder holding a copy of the demo MR.
    func demoCopy(_ demo: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: demo + "/ch2.nii.gz", toPath: dir + "/ch2.nii.gz")
        return dir
    }

    func testOpenBoxSegmentSaveQuitOnTheDemo() throws {
        let (home, demo) = try installedDemo()
        let dir = try demoCopy(demo)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/seg.nii.gz"
        let recovery = home + "/recovery"
        func recoveryFiles() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: recovery)) ?? []).filter { $0.hasPrefix("ch2.nii.gz-") && $0.hasSuffix(".npz") }
        }
        let earlierRecoveryFiles = Set(recoveryFiles())
        socket = "medseg-e2e-\(getpid())"
        defer { _ = try? tmux(["kill-server"]) }
        let cmd = "COLORTERM=truecolor '\(CLI.executable.path)' open '\(dir)/ch2.nii.gz' --gt '\(demo)/aal.nii.gz' --out '\(out)'; echo medseg-exited-$?; sleep 60"
        _ = try tmux(["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "50", cmd])

        try waitFor("model loaded")
        var s = try screen()
        XCTAssertTrue(s.contains("axial 90 of 0-180"), s)
        XCTAssertTrue(s.contains("vs ground truth"), s)
        XCTAssertTrue(try screen(colors: true).contains("38;2;"), "true-colour half blocks expected")

        // A box around AAL region 7 on slice 90 (its bounding box there), labelled 7, segmented.
        try keys(":box 39 158 70 187", "Enter")
        try keys(":label 7", "Enter")
        try keys("s")
        s = try waitFor("label 7:", seconds: 60)
        XCTAssertTrue(s.contains("voxels in"), s)
        try waitFor("label 7    ")   // the score row in the panel

        // Too small, then back: a message, no crash.
        _ = try tmux(["resize-window", "-t", "e2e", "-x", "30", "-y", "8"])
        try waitFor("Terminal too small", seconds: 10)
        _ = try tmux(["resize-window", "-t", "e2e", "-x", "160", "-y", "50"])
        try waitFor("vs ground truth", seconds: 10)

        // A second medseg on the same image neither offers nor touches this session's recovery file.
        let before = Array(Set(recoveryFiles()).subtracting(earlierRecoveryFiles))
        XCTAssertEqual(before.count, 1, "\(before)")
        let second = "COLORTERM=truecolor '\(CLI.executable.path)' open '\(dir)/ch2.nii.gz' --out '\(dir)/other.nii.gz'; echo second-exited-$?; sleep 60"
        _ = try tmux(["new-window", "-t", "e2e", "-n", "second", second])
        let other = try waitFor("no recovery: open in another medseg", seconds: 30)
        XCTAssertFalse(other.contains("Restore the unsaved work"), other)
        _ = try tmux(["send-keys", "-t", "e2e:second", "q"])
        try waitFor("second-exited-0", seconds: 10)
        XCTAssertTrue(FileManager.default.fileExists(atPath: recovery + "/" + before[0]), "the first session's recovery file survives")
        _ = try tmux(["kill-window", "-t", "e2e:second"])

        try keys("w")
        try waitFor("saved \(out)", seconds: 30)
        // Rewritten in place by another program (same inode, as cp does): w asks before replacing it.
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try writer.truncate(atOffset: 0)
        try writer.write(contentsOf: Data(repeating: 7, count: 100))
        try writer.close()
        try keys("w")
        try waitFor("replace it? y/n", seconds: 10)
        try keys("n")
        try waitFor("not saved", seconds: 10)
        // A directory as the target: said plainly, before any question.
        try keys(":save \(dir)", "Enter")
        try waitFor("is a directory", seconds: 10)
        try keys("w")
        try waitFor("replace it? y/n", seconds: 10)
        try keys("y")
        try waitFor("saved \(out)", seconds: 30)
        try keys("q")
        try waitFor("medseg-exited-0", seconds: 10)

        // The saved mask: label 7 only, on slice 90 only, inside the box, overlapping the ground truth.
        let seg = try LabelFile.read(path: out, keys: [])
        let gt = try LabelFile.read(path: demo + "/aal.nii.gz", keys: [])
        XCTAssertEqual(seg.shape, [181, 217, 181])
        let (h, w) = (217, 181)
        var inter = 0, a = 0, b = 0
        for (i, l) in seg.labels.enumerated() {
            let z = i / (h * w), y = (i / w) % h, x = i % w
            if l != 0 {
                XCTAssertEqual(l, 7)
                XCTAssertEqual(z, 90)
                XCTAssertTrue((39...70).contains(x) && (158...187).contains(y), "voxel \(x) \(y) outside the box")
                a += 1
            }
            if z == 90 && gt.labels[i] == 7 { b += 1; if l == 7 { inter += 1 } }
        }
        let dsc = 2 * Double(inter) / Double(a + b)
        XCTAssertGreaterThan(a, 50)
        XCTAssertGreaterThan(dsc, 0.3, "slice DSC against AAL region 7 (measured 0.417)")
        // The affine of the input survives.
        let src = try Nifti.read(path: dir + "/ch2.nii.gz"), dst = try Nifti.read(path: out)
        XCTAssertEqual(src.affine, dst.affine)
    }

    /// A challenge case's 3D box segmented in the workbench (`B` loads it) gives, to the voxel,
    /// the labels `medseg segment` writes for the same file (the workbench builds its model on
    /// its own thread and decodes one box at a time).
    func testWorkbenchAndSegmentGiveTheSameMask() throws {
        let (_, demo) = try installedDemo()
        let dir = try demoCopy(demo)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The demo MR's voxels as a challenge npz (already 0-255: both take them as they are).
        let mr = try Nifti.read(path: dir + "/ch2.nii.gz")
        let case_ = dir + "/3DBox_ch2.npz"
        try Npz.write([(name: "imgs", array: mr.data),
                       (name: "boxes", array: NDArray(shape: [2, 6], values: [35.0, 112, 96, 72, 193, 110,
                                                                             99, 108, 100, 128, 199, 108]))], to: case_)
        socket = "medseg-e2e-\(getpid())"
        defer { _ = try? tmux(["kill-server"]) }
        let out = dir + "/wb.npz"
        let cmd = "'\(CLI.executable.path)' open '\(case_)' --out '\(out)'; echo medseg-exited-$?; sleep 60"
        _ = try tmux(["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "50", cmd])
        try waitFor("model loaded")
        try keys("B")
        try keys("s")
        // Label 1 is segmented first, then label 2 ("label 2: N voxels in T ms" when done). Not
        // "label 1: N voxels in T ms" beside "segmenting label 2: 3/9 slices" on the same row.
        let done = try NSRegularExpression(pattern: "label 2: [0-9]+ voxels in")
        let end = Date().addingTimeInterval(120)
        while try !screen().split(separator: "\n").contains(where: { line in
            let l = String(line)
            return done.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) != nil
        }) {
            guard Date() < end else { return XCTFail("label 2 not segmented within 120 s; screen:\n\(try screen())") }
            Thread.sleep(forTimeInterval: 0.3)
        }
        try keys("w")
        try waitFor("saved \(out)", seconds: 30)
        try keys("q")
        try waitFor("medseg-exited-0", seconds: 10)

        let r = try CLI.run(["segment", case_, "-o", dir + "/segs"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let headless = try LabelFile.read(path: dir + "/segs/3DBox_ch2.npz", keys: ["segs"]).labels
        let workbench = try LabelFile.read(path: out, keys: ["segs"]).labels
        XCTAssertEqual(headless.count, workbench.count)
        for label in [1, 2] as [UInt16] {
            XCTAssertGreaterThan(headless.filter { $0 == label }.count, 1000, "label \(label)")
        }
        XCTAssertEqual(zip(headless, workbench).filter { $0 != $1 }.count, 0, "voxels labelled differently")
    }

    /// The mouse through the real terminal: a drag draws a box (the same box dragged either
    /// way), the wheel turns slices. Undoing a running 3D segmentation stops it: the engine goes
    /// idle instead of finishing the 181 slices.
    func testMouseBoxesAndUndoStopsA3DSegmentation() throws {
        let (_, demo) = try installedDemo()
        let dir = try demoCopy(demo)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        socket = "medseg-e2e-mouse-\(getpid())"
        defer { _ = try? tmux(["kill-server"]) }
        // xterm's terminfo: ncurses then reads the SGR mouse reports (as from most terminals).
        let cmd = "TERM=xterm-256color COLORTERM=truecolor '\(CLI.executable.path)' open '\(dir)/ch2.nii.gz'; echo medseg-exited-$?; sleep 60"
        _ = try tmux(["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "50", cmd])
        try waitFor("model loaded")

        func boxLine() throws -> String {
            let line = try waitFor("as label", seconds: 10).split(separator: "\n").first { $0.contains("as label") } ?? ""
            return String(line.split(separator: "s").first ?? "")   // " box X0 Y0 X1 Y1 "
        }
        try mouse(0, col: 40, row: 12)
        try mouse(32, col: 55, row: 20)
        try mouse(32, col: 70, row: 28)
        try mouse(0, col: 70, row: 28, release: true)
        let forward = try boxLine()
        XCTAssertTrue(forward.hasPrefix(" box "), forward)
        let corners = forward.split(separator: " ").dropFirst().compactMap { Int($0) }
        XCTAssertEqual(corners.count, 4, forward)
        if corners.count == 4 { XCTAssertTrue(corners[2] - corners[0] > 20 && corners[3] - corners[1] > 20, forward) }
        try keys("u")
        try waitFor("undone")
        try mouse(0, col: 70, row: 28)
        try mouse(32, col: 40, row: 12)
        try mouse(0, col: 40, row: 12, release: true)
        XCTAssertEqual(try boxLine(), forward, "the same box dragged the other way")
        try mouse(64, col: 50, row: 20)
        try waitFor("axial 89 of 0-180", seconds: 10)
        try mouse(65, col: 50, row: 20)
        try waitFor("axial 90 of 0-180", seconds: 10)

        // The box over every slice, segmented, then undone while it runs.
        try keys(":zrange 0 180", "Enter")
        try keys("s")
        try waitFor("segmenting label 1: ", seconds: 60)
        let pid = try medsegPID(dir)
        try keys("u")
        Thread.sleep(forTimeInterval: 3)   // the step in flight, and any prefetch, end
        let before = try cpuSeconds(pid)
        Thread.sleep(forTimeInterval: 3)
        let used = try cpuSeconds(pid) - before
        XCTAssertLessThan(used, 1, "CPU seconds used in 3 s after the undo (a running propagation uses about 6)")
        try keys("q")
        try waitFor("quit anyway? y/n", seconds: 10)   // the undo kept the box, unsegmented
        try keys("y")
        try waitFor("medseg-exited-0", seconds: 10)
    }

    /// The pid of the `medseg open` of the image in `dir`.
    func medsegPID(_ dir: String) throws -> Int32 {
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(entry), let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if args.count >= 3, args[0].hasSuffix("medseg"), args[1] == "open", args[2] == dir + "/ch2.nii.gz" { return pid }
        }
        throw NSError(domain: "no medseg process for \(dir)", code: 1)
    }

    /// User and system CPU time of a process so far (/proc/PID/stat, in clock ticks).
    func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        return (Double(fields[11])! + Double(fields[12])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func testMissingModelIsAClearError() throws {
        let r = try CLI.run(["open", "/nonexistent.nii.gz", "--model", "/nonexistent/model.pth"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("No such file or directory (the model file given)"), r.stderr)
        let r2 = try CLI.run(["open"])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertEqual(r2.stderr.split(separator: "\n").count, 1, r2.stderr)
    }
}
