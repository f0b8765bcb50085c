import Foundation
import XCTest
import SegEngine
import Volumes
@testable import Workbench

/// `medseg segment` on small challenge cases, as a user runs it.
final class SegmentCLITests: XCTestCase {
    func modelInstalled() throws {
        guard FileManager.default.fileExists(atPath: medsegHome() + "/models/lite_medsam.pth") else {
            throw XCTSkip("model not installed; run scripts/setup.sh")
        }
    }

    func testTwoDCaseWithBadBoxesIsSegmentedAndReported() throws {
        try modelInstalled()
        let dir = try temporaryDirectory(self)
        // A bright disc on a dark background: a box around it must give a disc-like mask.
        var img = [UInt8](repeating: 20, count: 96 * 128 * 3)
        for y in 0..<96 { for x in 0..<128 where (x - 40) * (x - 40) + (y - 50) * (y - 50) < 400 {
            for c in 0..<3 { img[(y * 128 + x) * 3 + c] = 220 }
        } }
        let boxes: [Double] = [18, 28, 62, 72,    // the disc
                               62, 72, 18, 28,    // the same, inverted
                               200, 10, 300, 50,  // outside the image
                               -10, -10, 20, 20]  // partly outside
        let input = dir.appendingPathComponent("2DBox_disc.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [96, 128, 3], values: img)),
                       (name: "boxes", array: NDArray(shape: [4, 4], values: boxes))], to: input)
        let out = dir.appendingPathComponent("out").path
        let r = try CLI.run(["segment", input, "--output-dir", out, "--max-batch", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("box 2 has inverted corners; reordered"), r.stderr)
        XCTAssertTrue(r.stderr.contains("box 3 [200, 10, 300, 50] lies outside the 128x96 image; skipped"), r.stderr)
        XCTAssertFalse(r.stderr.contains("box 3 [200, 10, 300, 50] reaches outside"), r.stderr)
        XCTAssertTrue(r.stderr.contains("box 4 [-10, -10, 20, 20] reaches outside the 128x96 image; clipped"), r.stderr)
        XCTAssertTrue(r.stdout.contains("1 of 1 case segmented"), r.stdout)
        let segs = try Npz.read(path: out + "/2DBox_disc.npz")
        XCTAssertEqual(segs.map(\.name), ["segs"])
        XCTAssertEqual(segs[0].array.shape, [96, 128])
        XCTAssertEqual(segs[0].array.dtype, .uint8)
        let labels = try XCTUnwrap(segs[0].array.values(as: UInt8.self))
        XCTAssertFalse(labels.contains(3))
        // Box 2 (the same box as 1) covers box 1's mask: said when no pixel of label 1 is left.
        XCTAssertEqual(r.stderr.contains("box 1 left no pixel labelled as its own (covered by later boxes' masks)"), !labels.contains(1), r.stderr)
        // Box 2 (same box as 1) overwrote box 1; the disc is found.
        var inter = 0, disc = 0, mask = 0
        for y in 0..<96 { for x in 0..<128 {
            let inDisc = (x - 40) * (x - 40) + (y - 50) * (y - 50) < 400, inMask = labels[y * 128 + x] == 2
            if inDisc { disc += 1 }; if inMask { mask += 1 }; if inDisc && inMask { inter += 1 }
        } }
        XCTAssertGreaterThan(2 * Double(inter) / Double(disc + mask), 0.9)
    }

    /// The challenge keeps imgs/ and gts/ under one set of names: segmenting into the gts folder
    /// must not replace a ground truth; an earlier output is replaced.
    func testOutputsReplaceOnlyEarlierOutputs() throws {
        try modelInstalled()
        let dir = try temporaryDirectory(self)
        let imgs = dir.appendingPathComponent("imgs").path, gts = dir.appendingPathComponent("gts").path
        for d in [imgs, gts] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let img = NDArray(shape: [32, 32], values: (0..<1024).map { UInt8($0 % 7 * 30) })
        try Npz.write([(name: "imgs", array: img), (name: "boxes", array: NDArray(shape: [1, 4], values: [4.0, 4, 20, 20]))],
                      to: imgs + "/2DBox_a.npz")
        try Npz.write([(name: "imgs", array: img), (name: "gts", array: NDArray(shape: [32, 32], values: [UInt8](repeating: 1, count: 1024)))],
                      to: gts + "/2DBox_a.npz")
        let before = try Data(contentsOf: URL(fileURLWithPath: gts + "/2DBox_a.npz"))
        let r = try CLI.run(["segment", imgs, "-o", gts])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("already holds 2DBox_a.npz (with `imgs`, `gts`), not an earlier segmentation"), r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: gts + "/2DBox_a.npz")), before)
        let out = dir.appendingPathComponent("out").path
        for _ in 0..<2 {
            let s = try CLI.run(["segment", imgs, "-o", out])
            XCTAssertEqual(s.status, 0, s.stderr)
        }
    }

    /// Input the model cannot take is refused in one line: an image with no finite value, a 2D
    /// case with one channel, more boxes than the uint16 output has labels.
    func testUnusableImagesAndTooManyBoxesAreRefused() throws {
        try modelInstalled()
        let dir = try temporaryDirectory(self)
        let box = NDArray(shape: [1, 4], values: [2.0, 2, 8, 8])
        let nan = dir.appendingPathComponent("2DBox_nan.npz").path, c1 = dir.appendingPathComponent("2DBox_c1.npz").path
        let many = dir.appendingPathComponent("2DBox_many.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [16, 16], values: [Float](repeating: .nan, count: 256))), (name: "boxes", array: box)], to: nan)
        try Npz.write([(name: "imgs", array: NDArray(shape: [16, 16, 1], values: [UInt8](repeating: 9, count: 256))), (name: "boxes", array: box)], to: c1)
        try Npz.write([(name: "imgs", array: NDArray(shape: [16, 16], values: [UInt8](repeating: 9, count: 256))),
                       (name: "boxes", array: NDArray(shape: [65536, 4], values: [Double](repeating: 3, count: 65536 * 4)))], to: many)
        for (file, says) in [(nan, "`imgs` holds no finite value"), (c1, "`imgs` has shape [16, 16, 1]; a 2D case's image is (H,W) or (H,W,3)"),
                             (many, "65536 boxes; at most 65535 labels fit the uint16 `segs`")] {
            let r = try CLI.run(["segment", file, "-o", dir.appendingPathComponent("o").path])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("medseg: error: \(file): \(says)"), r.stderr)
            XCTAssertLessThan(r.stderr.count, 400, "no flood of warnings: \(r.stderr.prefix(400))")
        }
    }

    func testMissingKeysAndBadArgumentsFailClearly() throws {
        let dir = try temporaryDirectory(self)
        let noBoxes = dir.appendingPathComponent("2DBox_x.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [4, 4], values: [UInt8](repeating: 1, count: 16)))], to: noBoxes)
        let r = try CLI.run(["segment", noBoxes, "-o", dir.appendingPathComponent("o").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("2DBox_x.npz: no `boxes` array: nothing to segment"), r.stderr)
        let s = try CLI.run(["segment", noBoxes, "-o", dir.path, "--3d", "sideways"])
        XCTAssertEqual(s.status, 2)
        XCTAssertTrue(s.stderr.contains("--3d takes propagate or per-slice, not 'sideways'"), s.stderr)
        let m = try CLI.run(["segment", noBoxes, "-o", dir.appendingPathComponent("o").path, "--model", "/nonexistent.pth"])
        XCTAssertEqual(m.status, 1)
        XCTAssertTrue(m.stderr.contains("/nonexistent.pth: No such file or directory (the model file given)"), m.stderr)
        // A folder without cases: one line, bad input.
        let emptyDir = dir.appendingPathComponent("none")
        try FileManager.default.createDirectory(at: emptyDir, withIntermediateDirectories: true)
        let e = try CLI.run(["segment", emptyDir.path, "-o", dir.appendingPathComponent("o").path])
        XCTAssertEqual(e.status, 1)
        XCTAssertEqual(e.stderr, "medseg: error: no input cases: \(emptyDir.path) holds no .npz files\n")
        // An output directory that cannot be written in is refused before any case is segmented.
        let ro = try CLI.run(["segment", noBoxes, "-o", "/proc/self"])
        XCTAssertEqual(ro.status, 1)
        XCTAssertTrue(ro.stderr.hasPrefix("medseg: error: /proc/self: cannot write in the output directory ("), ro.stderr)   // EPERM as root, else EACCES
        XCTAssertEqual(ro.stderr.split(separator: "\n").count, 1, ro.stderr)
        // Nothing written: the output directory made for it is gone again.
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("o").path))
        // A NIfTI (or PNG, npy) is not a challenge case: said so, with where it can be segmented.
        let nii = dir.appendingPathComponent("ct.nii.gz").path
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: nii))
        let n = try CLI.run(["segment", nii, "-o", dir.appendingPathComponent("o").path])
        XCTAssertEqual(n.status, 1)
        XCTAssertTrue(n.stderr.contains("ct.nii.gz: segment takes challenge npz cases (imgs + boxes); 'medseg open' opens"), n.stderr)
        // An RGBA image (H,W,4) is a volume of H slices by the array's rank: the error says so.
        let rgba = dir.appendingPathComponent("rgba.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [6, 5, 4], values: [UInt8](repeating: 1, count: 120))),
                       (name: "boxes", array: NDArray(shape: [1, 4], values: [0.0, 0, 2, 2]))], to: rgba)
        let a = try CLI.run(["segment", rgba, "-o", dir.appendingPathComponent("o").path])
        XCTAssertEqual(a.status, 1)
        XCTAssertTrue(a.stderr.contains("expected 6 values (`imgs` [6, 5, 4] is read as 6 slices of 5x4; a 2D image is (H,W) or (H,W,3))"), a.stderr)
    }

    /// Outputs are npz files named for their case, `.npz` added to a name without it.
    func testOutputNames() {
        XCTAssertEqual(SegmentCommand.outputName("/d/2DBox_a.npz"), "2DBox_a.npz")
        XCTAssertEqual(SegmentCommand.outputName("/d/CASE.NPZ"), "CASE.NPZ")
        XCTAssertEqual(SegmentCommand.outputName("noext"), "noext.npz")
        XCTAssertEqual(SegmentCommand.outputName("/d/a.nii.gz"), "a.nii.gz.npz")
    }

    /// A uint8 image saved as float (whole numbers 0-255) is taken as it is; other float images
    /// are windowed to the 0.5-99.5 percentiles.
    func testFloatImagesOfWholeBytesAreTakenAsTheyAre() throws {
        let bytes: [Float] = [0, 7, 255, 128, 3, 90]
        XCTAssertEqual(try SegmentCommand.uint8Pixels(NDArray(shape: [2, 3], values: bytes), path: "a.npz"), [0, 7, 255, 128, 3, 90])
        let other: [Float] = [0, 7.5, 255, 128, 3, 900]
        XCTAssertEqual(try SegmentCommand.uint8Pixels(NDArray(shape: [2, 3], values: other), path: "a.npz"), Windowing.applyPercentile(other))
        XCTAssertNotEqual(Windowing.applyPercentile(other), other.map { UInt8(min($0, 255)) })
    }

    /// Ctrl-C during a case: a line says how far the work got, no temporary file is left, and
    /// the exit status is 130; an empty `boxes` array is said to give an all-background result.
    func testInterruptSaysHowFarItGotAndLeavesNoTemporaryFile() throws {
        try modelInstalled()
        let demo = medsegHome() + "/demo/ch2.nii.gz"
        guard FileManager.default.fileExists(atPath: demo) else { throw XCTSkip("demo not installed") }
        let dir = try temporaryDirectory(self)
        let mr = try Nifti.read(path: demo)
        let big = dir.appendingPathComponent("3DBox_mr.npz").path, none = dir.appendingPathComponent("3DBox_none.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [4, 8, 8], values: [UInt8](repeating: 9, count: 256))),
                       (name: "boxes", array: NDArray(shape: [0, 6], values: [Double]()))], to: none)
        try Npz.write([(name: "imgs", array: mr.data),
                       (name: "boxes", array: NDArray(shape: [1, 6], values: [35.0, 112, 20, 72, 193, 160]))], to: big)
        let out = dir.appendingPathComponent("o")
        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = ["segment", none, big, "-o", out.path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        // Until the first case is written and the second under way, then Ctrl-C.
        let end = Date().addingTimeInterval(60)
        while (try? FileManager.default.contentsOfDirectory(atPath: out.path))?.contains("3DBox_none.npz") != true && Date() < end {
            usleep(50_000)
        }
        usleep(1_500_000)
        XCTAssertTrue(p.isRunning, "the 141-slice case ended within 1.5 s")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 130, stderr)
        XCTAssertTrue(stderr.contains("3DBox_none.npz: `boxes` is empty; its segs is all background"), stderr)
        XCTAssertTrue(stderr.contains("medseg: interrupted: 1 of 2 cases written; 3DBox_mr.npz not finished, nothing written for it"), stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), ["3DBox_none.npz"])
    }

    /// A reader of standard output that goes away (`| head -1`) does not end the batch: every
    /// case is still segmented and written.
    func testAClosedStandardOutputDoesNotStopTheBatch() throws {
        try modelInstalled()
        let dir = try temporaryDirectory(self)
        var img = [UInt8](repeating: 20, count: 64 * 64)
        for y in 20..<40 { for x in 20..<40 { img[y * 64 + x] = 200 } }
        for name in ["a", "b", "c"] {
            try Npz.write([(name: "imgs", array: NDArray(shape: [64, 64], values: img)),
                           (name: "boxes", array: NDArray(shape: [1, 4], values: [18.0, 18, 41, 41]))],
                          to: dir.appendingPathComponent("2DBox_\(name).npz").path)
        }
        let out = dir.appendingPathComponent("o")
        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = ["segment", dir.path, "-o", out.path]
        let stdout = Pipe(), err = Pipe()
        p.standardOutput = stdout
        p.standardError = err
        try p.run()
        try stdout.fileHandleForReading.close()   // the reader is gone before the first line
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationReason, .exit, stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(), ["2DBox_a.npz", "2DBox_b.npz", "2DBox_c.npz"], stderr)
    }

    /// One-character output names work (Foundation's deletingLastPathComponent trapped on them).
    func testOneCharacterOutputNames() throws {
        try modelInstalled()
        let dir = try temporaryDirectory(self)
        var img = [UInt8](repeating: 20, count: 32 * 32)
        for y in 10..<20 { for x in 10..<20 { img[y * 32 + x] = 200 } }
        try Npz.write([(name: "imgs", array: NDArray(shape: [32, 32], values: img)),
                       (name: "boxes", array: NDArray(shape: [1, 4], values: [8.0, 8, 21, 21]))], to: dir.appendingPathComponent("c.npz").path)
        let seg = try CLI.run(["segment", "c.npz", "-o", "z"], in: dir)
        XCTAssertEqual(seg.status, 0, seg.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("z/c.npz").path))
        let gts = [UInt8](img.map { $0 == 200 ? 1 : 0 })
        try Npz.write([(name: "gts", array: NDArray(shape: [32, 32], values: gts))], to: dir.appendingPathComponent("g.npz").path)
        let eval = try CLI.run(["eval", "--pred", "z/c.npz", "--gt", "g.npz", "--csv", "e"], in: dir)
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("e").path))
    }

    /// A box is skipped only when it misses the image: one of zero width on the left edge (the
    /// challenge's box of a one-pixel-wide object at x = 0) is kept; one just past an edge is not.
    func testBoxesOnTheImageEdgeAreKeptAndThoseOffItSkipped() {
        let keep = SegmentCommand.clip(Box2D(x0: 0, y0: 5, x1: 0, y1: 9), height: 20, width: 30, what: "box 1", path: "a.npz")
        XCTAssertEqual(keep, [0, 5, 0, 9])
        XCTAssertEqual(SegmentCommand.clip(Box2D(x0: -4, y0: -3, x1: 0, y1: 0), height: 20, width: 30, what: "box 2", path: "a.npz"),
                       [0, 0, 0, 0])
        XCTAssertNil(SegmentCommand.clip(Box2D(x0: -4, y0: 5, x1: -1, y1: 9), height: 20, width: 30, what: "box 3", path: "a.npz"))
        XCTAssertNil(SegmentCommand.clip(Box2D(x0: 30, y0: 5, x1: 34, y1: 9), height: 20, width: 30, what: "box 4", path: "a.npz"))
        XCTAssertNil(SegmentCommand.clip(Box2D(x0: 3, y0: 20, x1: 8, y1: 25), height: 20, width: 30, what: "box 5", path: "a.npz"))
    }

    /// An unusable coordinate is reported with the file it came from.
    func testUnusableBoxCoordinateNamesTheFile() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("2DBox_nan.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [4, 4], values: [UInt8](repeating: 1, count: 16))),
                       (name: "boxes", array: NDArray(shape: [1, 4], values: [Double.nan, 0, 2, 2]))], to: path)
        let r = try CLI.run(["segment", path, "-o", dir.appendingPathComponent("o").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("2DBox_nan.npz: `boxes` holds nan, which is not a usable coordinate"), r.stderr)
    }

    /// The progress line: the share done, and the time left once a few percent are done.
    func testProgressLineGivesShareAndTimeLeft() {
        XCTAssertEqual(SegmentCommand.progressLine("a.npz", done: 50, total: 452, unit: "object-slices", elapsed: 6.3, left: 50.65),
                       "a.npz: 50/452 object-slices (11%), about 51 s left")
        XCTAssertEqual(SegmentCommand.progressLine("a.npz", done: 10, total: 1000, unit: "slices", elapsed: 2, left: 198),
                       "a.npz: 10/1000 slices (1%)")                                // too early to tell
        XCTAssertEqual(SegmentCommand.progressLine("a.npz", done: 100, total: 1000, unit: "slices", elapsed: 30, left: 270),
                       "a.npz: 100/1000 slices (10%), about 5 min left")
        XCTAssertEqual(SegmentCommand.progressLine("a.npz", done: 3, total: 3, unit: "slices", elapsed: 9, left: nil),
                       "a.npz: 3/3 slices (100%)")
    }

    /// The time left weighs encodes and decodes by their own cost. Hand-worked: the demo case's
    /// first object done (60 slices encoded at 0.6 s and decoded at 0.04 s, on two workers: 19.2 s
    /// of wall time), 59 slices and 346 decodes left: 59 * 0.6 + 346 * 0.04 = 49.24 s of work at
    /// 19.2 / 38.4 wall seconds per second of work = 24.62 s. By the share of decodes alone it
    /// would be 19.2 * 346 / 60 = 110.7 s.
    func testTimeLeftWeighsEncodesAndDecodes() throws {
        let p = StackProgress(done: 60, total: 406, encoded: 60, toEncode: 119, encodeSeconds: 36, decodeSeconds: 2.4)
        XCTAssertEqual(try XCTUnwrap(p.secondsLeft(elapsed: 19.2)), 24.62, accuracy: 1e-9)
        // Only cached slices left to decode: decodes alone.
        let cached = StackProgress(done: 10, total: 20, encoded: 0, toEncode: 0, encodeSeconds: 0, decodeSeconds: 1)
        XCTAssertEqual(try XCTUnwrap(cached.secondsLeft(elapsed: 0.5)), 0.5, accuracy: 1e-9)
        XCTAssertNil(StackProgress(done: 0, total: 20).secondsLeft(elapsed: 1))
        // Cached slices first, encodes still to come but none timed: no guess (it said 15 s of 107).
        XCTAssertNil(StackProgress(done: 11, total: 121, encoded: 0, toEncode: 60, encodeSeconds: 0, decodeSeconds: 0.5).secondsLeft(elapsed: 2))
        XCTAssertEqual(TimeLeft.text(24.62), ", about 25 s left")
        XCTAssertEqual(TimeLeft.text(270), ", about 5 min left")
        XCTAssertEqual(TimeLeft.text(nil), "")
    }

    /// The workbench's time left counts the objects waiting. Hand-worked: the running object
    /// spans slices 10-20, 5 of 11 done (0.6 s an encode, 0.04 s a decode, 3.2 s of work in 2 s
    /// of wall time). Waiting: slices 15-30 and 28-32, slice 25 embedded already. Their new
    /// slices are 21-32 less 25: 11 encodes; their decodes 16 + 5 = 21. Left: (6 + 11) * 0.6 +
    /// (6 + 21) * 0.04 = 11.28 s of work, * 2 / 3.2 = 7.05 s.
    func testTimeLeftCountsTheObjectsWaiting() throws {
        func box(_ z0: Int, _ z1: Int) -> SegObject {
            SegObject(id: z0, label: 1, x0: 0, y0: 0, x1: 4, y1: 4, z0: z0, z1: z1, mask: nil, stale: true)
        }
        let queued = SegWorker.work(of: [box(15, 30), box(32, 28)], depth: 40, after: 10...20, cached: { $0 == 25 })
        XCTAssertEqual(queued.encodes, 11)
        XCTAssertEqual(queued.decodes, 21)
        let p = StackProgress(done: 5, total: 11, encoded: 5, toEncode: 11, encodeSeconds: 3, decodeSeconds: 0.2)
        XCTAssertEqual(try XCTUnwrap(p.secondsLeft(elapsed: 2, moreEncodes: queued.encodes, moreDecodes: queued.decodes)), 7.05, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(p.secondsLeft(elapsed: 2)), 2 * (6 * 0.6 + 6 * 0.04) / 3.2, accuracy: 1e-9)
        // The running object done, others waiting: still a guess; nothing waiting: none.
        let last = StackProgress(done: 11, total: 11, encoded: 11, toEncode: 11, encodeSeconds: 6.6, decodeSeconds: 0.44)
        XCTAssertEqual(try XCTUnwrap(last.secondsLeft(elapsed: 4, moreEncodes: 2, moreDecodes: 5)), 4 * (1.2 + 0.2) / 7.04, accuracy: 1e-9)
        XCTAssertNil(last.secondsLeft(elapsed: 4))
        // A run served from the cache with encodes waiting after it: no guess, unless an earlier
        // run timed an encode (0.5 s): (2 * 0.5 + (10 + 5) * 0.04) of work in 0.4 s, at 1 wall s a work s.
        let cached = StackProgress(done: 10, total: 20, encoded: 0, toEncode: 0, encodeSeconds: 0, decodeSeconds: 0.4)
        XCTAssertNil(cached.secondsLeft(elapsed: 0.4, moreEncodes: 2, moreDecodes: 5))
        XCTAssertEqual(try XCTUnwrap(cached.secondsLeft(elapsed: 0.4, moreEncodes: 2, moreDecodes: 5, encodePace: 0.5)), 1.6, accuracy: 1e-9)
        // A box reaching past the volume counts its slices inside it only.
        XCTAssertEqual(SegWorker.work(of: [box(38, 45)], depth: 40, after: 0...0, cached: { _ in false }).decodes, 2)
    }

    /// `B` in the workbench prompts the model with the boxes `segment` uses: the file's corners
    /// with their fractions, clipped alike (rounded ones gave 6 pixels of 4424 otherwise), and
    /// drawn at the nearest voxels.
    func testTheWorkbenchTakesTheFilesBoxesAsSegmentDoes() {
        let boxes: [Box2D] = [Box2D(x0: 58.4, y0: 65.2, x1: 134.7, y1: 140.1), Box2D(x0: -3.5, y0: 10, x1: 250.6, y1: 99.5),
                              Box2D(x0: 120, y0: 90, x1: 30, y1: 20), Box2D(x0: 0, y0: 0, x1: 200, y1: 100)]
        let objects = WorkbenchApp.fileObjects(boxes.map { .flat($0) }, depth: 1, height: 100, width: 200)
        XCTAssertEqual(objects.count, 4)
        for (o, b) in zip(objects, boxes) {
            XCTAssertEqual(o.pixelBox, SegmentCommand.clip(b, height: 100, width: 200, what: "box", path: "x.npz"))
        }
        XCTAssertEqual([objects[0].x0, objects[0].y0, objects[0].x1, objects[0].y1], [58, 65, 135, 99])
        XCTAssertEqual(objects[3].pixelBox, [0, 0, 200, 100])
        XCTAssertTrue(WorkbenchApp.fileObjects([.flat(Box2D(x0: 201, y0: 0, x1: 300, y1: 10))], depth: 1, height: 100, width: 200).isEmpty)
    }

    /// Hidden files in a folder are no cases (macOS leaves ._NAME.npz beside each), as for eval.
    func testHiddenFilesAreNoCases() throws {
        let dir = try temporaryDirectory(self)
        for name in ["a.npz", ".hidden.npz", "._a.npz"] { XCTAssertTrue(FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data())) }
        XCTAssertEqual(try SegmentCommand.collectInputs([dir.path]), [dir.appendingPathComponent("a.npz").path])
    }

    func testMoreThan255ObjectsAreWrittenAsUInt16() {
        let a = SegmentCommand.segsArray([0, 300, 2], shape: [3], boxes: 300)
        XCTAssertEqual(a.dtype, .uint16)
        XCTAssertEqual(a.values(as: UInt16.self), [0, 300, 2])
        XCTAssertEqual(SegmentCommand.segsArray([0, 1, 2], shape: [3], boxes: 2).dtype, .uint8)
    }

    /// `bench --case` times the encoder on a case's middle slice and refuses files without images.
    func testBenchCaseTakesTheMiddleSlice() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("3DBox_three.npz").path
        let pixels = (0..<(3 * 40 * 50)).map { UInt8(truncatingIfNeeded: $0 / 2000 * 80 + $0 % 7) }
        try Npz.write([(name: "imgs", array: NDArray(shape: [3, 40, 50], values: pixels))], to: path)
        let middle = ImageU8(height: 40, width: 50, channels: 1, pixels: Array(pixels[2000..<4000]))
        XCTAssertEqual(try BenchCommand.caseImage(path).data, Preprocess.image(middle).tensor)
        let noImage = dir.appendingPathComponent("2DBox_none.npz").path
        try Npz.write([(name: "boxes", array: NDArray(shape: [1, 4], values: [0.0, 0, 1, 1]))], to: noImage)
        let bad = try CLI.run(["bench", "--runs", "1", "--case", noImage])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("no `imgs` array"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertThrowsError(try BenchCommand.caseImage(dir.appendingPathComponent("ct.nii.gz").path)) {
            XCTAssertTrue("\($0)".contains("bench --case takes challenge npz cases (imgs + boxes); 'medseg open' opens"), "\($0)")
        }
        let r = try CLI.run(["bench", "--runs", "1", "--json", "--case", path])
        guard !r.stderr.contains("no model at") else { throw XCTSkip("checkpoint not installed") }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"encoder_case_ms\""), r.stdout)
    }

    func testConvertWritesAModelFileAndRefusesBadArguments() throws {
        let dir = try temporaryDirectory(self)
        let out = dir.appendingPathComponent("m.medseg").path
        let r = try CLI.run(["convert", "--output", out])
        guard !r.stderr.contains("no model at") else { throw XCTSkip("checkpoint not installed") }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("wrote \(out)"), r.stdout)
        // The written file is a model the other commands take.
        let b = try CLI.run(["bench", "--runs", "1", "--json", "--model", out])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stdout.contains("\"encoder_ms\""), b.stdout)
        // A bare file name goes to the current directory (it used to fail creating "").
        let bare = try CLI.run(["convert", "--output", "bare.medseg"], in: dir)
        XCTAssertEqual(bare.status, 0, bare.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: dir.appendingPathComponent("bare.medseg").path),
                       FileManager.default.contents(atPath: out))
        // Through a symlink to the model file it names: the link stays a link (a shared model
        // was cut loose), and no temporary file is left.
        let store = dir.appendingPathComponent("store"), link = dir.appendingPathComponent("link.medseg").path
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: out, toPath: store.appendingPathComponent("real.medseg").path)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "store/real.medseg")
        let linked = try CLI.run(["convert", "--output", link], in: dir)
        XCTAssertEqual(linked.status, 0, linked.stderr)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), "store/real.medseg")
        XCTAssertEqual(FileManager.default.contents(atPath: store.appendingPathComponent("real.medseg").path), FileManager.default.contents(atPath: out))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.path), ["real.medseg"])
        let bad = try CLI.run(["convert", "--checkpoint", "/nonexistent.pth", "--output", out])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("No such file or directory (the model file given)"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
    }

    /// An output never replaces an input: `-o` the inputs' own directory, or two inputs of one
    /// file name (both would be DIR/<name>), are refused before any work; the same file given
    /// twice is segmented once.
    func testOutputsNeverReplaceInputsOrEachOther() throws {
        let dir = try temporaryDirectory(self)
        let a = dir.appendingPathComponent("a"), b = dir.appendingPathComponent("b")
        for d in [a, b] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let image = NDArray(shape: [8, 8], values: [UInt8](repeating: 9, count: 64))
        let box = NDArray(shape: [1, 4], values: [1.0, 1, 6, 6])
        for d in [a, b] { try Npz.write([(name: "imgs", array: image), (name: "boxes", array: box)], to: d.appendingPathComponent("case.npz").path) }
        let own = try CLI.run(["segment", a.path, "-o", a.path])
        XCTAssertEqual(own.status, 1)
        XCTAssertTrue(own.stderr.contains("--output-dir \(a.path) holds the input \(a.path)/case.npz; writing it would replace the input"), own.stderr)
        XCTAssertEqual(try Npz.read(path: a.appendingPathComponent("case.npz").path).map(\.name), ["imgs", "boxes"])
        let twice = try CLI.run(["segment", a.appendingPathComponent("case.npz").path, b.appendingPathComponent("case.npz").path,
                                 "-o", dir.appendingPathComponent("o").path])
        XCTAssertEqual(twice.status, 2)
        XCTAssertTrue(twice.stderr.contains("would both be written as case.npz"), twice.stderr)
        // A directory named like a case is not one.
        try FileManager.default.createDirectory(at: b.appendingPathComponent("sub.npz"), withIntermediateDirectories: true)
        XCTAssertEqual(try SegmentCommand.collectInputs([b.path]), [b.appendingPathComponent("case.npz").path])
        let notDir = try CLI.run(["segment", a.path, "-o", a.appendingPathComponent("case.npz").path])
        XCTAssertEqual(notDir.status, 1)
        XCTAssertTrue(notDir.stderr.contains("case.npz: the output directory exists and is not a directory"), notDir.stderr)
        let under = try CLI.run(["segment", a.path, "-o", a.appendingPathComponent("case.npz/sub").path])
        XCTAssertEqual(under.status, 1)
        XCTAssertTrue(under.stderr.contains("cannot create the output directory (\(a.path)/case.npz is a file)"), under.stderr)
    }

    /// Inputs that used to crash: a float image with NaN (windowed, NaN as 0) and an image whose
    /// short side resizes to under a pixel (kept at one). A 6-value box on a 2D image is refused;
    /// a 3D box's slices are clipped to the volume and said so.
    func testNaNImagesThinImagesAndBoxShapes() throws {
        try modelInstalled()
        let dir = try temporaryDirectory(self), out = dir.appendingPathComponent("o").path
        var pixels = [Float](repeating: 10, count: 64 * 64)
        for y in 20..<44 { for x in 20..<44 { pixels[y * 64 + x] = 200 } }
        for x in 0..<64 { pixels[x] = .nan }
        let nanCase = dir.appendingPathComponent("2DBox_nan.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [64, 64], values: pixels)),
                       (name: "boxes", array: NDArray(shape: [1, 4], values: [16.0, 16, 48, 48]))], to: nanCase)
        let thin = dir.appendingPathComponent("2DBox_thin.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [600, 1], values: (0..<600).map { UInt8($0 / 3) })),
                       (name: "boxes", array: NDArray(shape: [1, 4], values: [0.0, 100, 1, 300]))], to: thin)
        let stack = dir.appendingPathComponent("3DBox_z.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [3, 32, 32], values: (0..<3072).map { UInt8($0 % 32 * 8) })),
                       (name: "boxes", array: NDArray(shape: [2, 6], values: [4.0, 4, 1, 28, 28, 9,  4, 4, 2, 28, 28, 0]))], to: stack)
        let r = try CLI.run(["segment", nanCase, thin, stack, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("3 of 3 cases segmented"), r.stdout)
        XCTAssertTrue(r.stderr.contains("box 1 slices 1...9 reach outside the volume; clipped to 1...2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("box 2 has its slices inverted (2...0); reordered"), r.stderr)
        let nanSegs = try XCTUnwrap(Npz.read(path: out + "/2DBox_nan.npz")[0].array.values(as: UInt8.self))
        XCTAssertEqual(nanSegs[32 * 64 + 32], 1)   // the bright square is found
        XCTAssertEqual(try Npz.read(path: out + "/2DBox_thin.npz")[0].array.shape, [600, 1])
        let flatWith3D = dir.appendingPathComponent("2DBox_six.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [8, 8], values: [UInt8](repeating: 9, count: 64))),
                       (name: "boxes", array: NDArray(shape: [1, 6], values: [1.0, 1, 0, 6, 6, 0]))], to: flatWith3D)
        let six = try CLI.run(["segment", flatWith3D, "-o", out])
        XCTAssertEqual(six.status, 1)
        XCTAssertTrue(six.stderr.contains("2DBox_six.npz: 2D case with a 6-value box (box 1); expected 4 values (`imgs` [8, 8] is read as an image of 8x8)"), six.stderr)
        let rgb = dir.appendingPathComponent("2DBox_rgb.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [10, 16, 3], values: [UInt8](repeating: 9, count: 480))),
                       (name: "boxes", array: NDArray(shape: [1, 6], values: [1.0, 1, 0, 6, 6, 0]))], to: rgb)
        let colour = try CLI.run(["segment", rgb, "-o", out])
        XCTAssertTrue(colour.stderr.contains("(`imgs` [10, 16, 3] is read as an RGB image of 16x10)"), colour.stderr)
    }
}
