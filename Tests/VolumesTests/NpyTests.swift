import Foundation
import XCTest
@testable import Volumes

/// npy/npz reading against files numpy wrote (tools/fixtures/make_npy_fixtures.py), round trips,
/// and every kind of bad input.
final class NpyTests: XCTestCase {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/npy")
    func fixture(_ name: String) -> String { Self.dir.appendingPathComponent(name).path }

    lazy var expected: [String: [String: Any]] = {
        let data = try! Data(contentsOf: Self.dir.appendingPathComponent("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    }()

    func check(_ a: NDArray, against key: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let e = expected[key] else { return XCTFail("no expectation for \(key)", file: file, line: line) }
        XCTAssertEqual(a.shape, e["shape"] as! [Int], key, file: file, line: line)
        XCTAssertEqual(a.dtype.numpyName, e["dtype"] as! String, key, file: file, line: line)
        let v = a.doubles()
        XCTAssertEqual(v.reduce(0, +), e["sum"] as! Double, accuracy: 1e-6 * max(1, abs(e["sum"] as! Double)), key, file: file, line: line)
        // Foundation's JSON parser may round the last digit of a double: compare to 1e-12.
        for (x, y) in zip(Array(v.prefix(5)), e["first"] as! [Double]) {
            XCTAssertEqual(x, y, accuracy: 1e-12 * max(1, abs(y)), key, file: file, line: line)
        }
        XCTAssertEqual(min(v.count, 5), (e["first"] as! [Double]).count, key, file: file, line: line)
        if let last = e["last"] as? Double { XCTAssertEqual(v.last!, last, accuracy: 1e-12 * max(1, abs(last)), key, file: file, line: line) }
    }

    func testEveryDtypeInBothByteOrdersShapesAndVersions() throws {
        let npys = expected.keys.filter { $0.hasSuffix(".npy") }
        XCTAssertGreaterThan(npys.count, 25)
        for name in npys { check(try Npy.read(path: fixture(name)), against: name) }
    }

    func testFortranOrderBigEndianIsReorderedToC() throws {
        let a = try Npy.read(path: fixture("fortran_be.npy"))
        XCTAssertEqual(a.values(as: Int16.self), (0..<24).map(Int16.init))
    }

    func testChallengeNpzCompressedStoredAndZip64() throws {
        let arrays = try Npz.read(path: fixture("3DBox_demo.npz"))
        XCTAssertEqual(arrays.map(\.name), ["imgs", "gts", "boxes", "spacing"])
        for (n, a) in arrays { check(a, against: "3DBox_demo.npz/\(n)") }
        check(try Npz.read(path: fixture("2DBox_stored.npz"))[0].array, against: "2DBox_stored.npz/imgs")
        check(try Npz.read(path: fixture("zip64.npz"))[0].array, against: "zip64.npz/a")
        let listed = try Npz.listArrays(path: fixture("3DBox_demo.npz"))
        XCTAssertEqual(listed.map(\.name), ["imgs", "gts", "boxes", "spacing"])
        XCTAssertEqual(listed[0].shape, [4, 6, 5])
        XCTAssertEqual(listed[0].dtype, .uint8)
        XCTAssertEqual(try Npz.read(path: fixture("3DBox_demo.npz"), only: ["gts"]).map(\.name), ["gts"])
    }

    func testRoundTripEveryDtypeCompressedAndStored() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let arrays: [(name: String, array: NDArray)] = [
            ("b", NDArray(shape: [2, 2], values: [true, false, false, true])),
            ("u1", NDArray(shape: [3], values: [UInt8(0), 7, 255])),
            ("i8", NDArray(shape: [1, 2, 1], values: [Int64.min, Int64.max])),
            ("f2", NDArray(shape: [2], values: [Float16(1.5), Float16(-2)])),
            ("f4", NDArray(shape: [], values: [Float(3.25)])),
            ("f8", NDArray(shape: [0, 4], values: [Double]())),
            ("u2", NDArray(shape: [2, 2, 2, 2], values: (0..<16).map(UInt16.init))),
        ]
        for compressed in [true, false] {
            let path = dir.appendingPathComponent("x\(compressed).npz").path
            try Npz.write(arrays, to: path, compressed: compressed)
            let back = try Npz.read(path: path)
            XCTAssertEqual(back.map(\.name), arrays.map(\.name))
            for (a, b) in zip(arrays, back) { XCTAssertEqual(a.array, b.array, a.name) }
        }
        let single = dir.appendingPathComponent("one.npy").path
        try Npy.write(arrays[6].array, to: single)
        XCTAssertEqual(try Npy.read(path: single), arrays[6].array)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["one.npy", "xfalse.npz", "xtrue.npz"])
    }

    // MARK: bad input: one clear error each, never a crash

    func assertFails(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line,
                     _ body: (String) throws -> Any) {
        XCTAssertThrowsError(try body(path), file: file, line: line) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains(fragment), "'\(s)' lacks '\(fragment)'", file: file, line: line)
            XCTAssertTrue(s.hasPrefix(path), "'\(s)' does not name the file", file: file, line: line)
            XCTAssertFalse(s.contains("\n"), file: file, line: line)
        }
    }

    func scratch(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)-\(name)")
        try Data(bytes).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testBadNpyFiles() throws {
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("f4_le.npy"))))
        assertFails(try scratch("t.npy", Array(good.dropLast(5))), "truncated") { try Npy.read(path: $0) }
        assertFails(try scratch("h.npy", Array(good.prefix(20))), "truncated npy header") { try Npy.read(path: $0) }
        assertFails(try scratch("m.npy", Array("hello world, not numpy".utf8)), "bad magic") { try Npy.read(path: $0) }
        assertFails(fixture("object.npy"), "object arrays (pickles) are not supported") { try Npy.read(path: $0) }
        assertFails(fixture("complex.npy"), "unsupported dtype '<c8'") { try Npy.read(path: $0) }
        func withHeader(_ dict: String) -> [UInt8] {
            var h = Array(dict.utf8)
            while (10 + h.count + 1) % 64 != 0 { h.append(32) }
            h.append(10)
            return Npy.magic + [1, 0, UInt8(h.count & 255), UInt8(h.count >> 8)] + h + [UInt8](repeating: 0, count: 16)
        }
        assertFails(try scratch("huge.npy", withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000000000), }")),
                    "absurdly large") { try Npy.read(path: $0) }
        assertFails(try scratch("big.npy", withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000), }")),
                    "header promises 8000000000 bytes") { try Npy.read(path: $0) }
        assertFails(try scratch("neg.npy", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 2), }")),
                    "negative dimension") { try Npy.read(path: $0) }
        assertFails(try scratch("mal.npy", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), ")),
                    "malformed npy header") { try Npy.read(path: $0) }
        assertFails(try scratch("nokey.npy", withHeader("{'descr': '<f4', 'shape': (3, 2), }")),
                    "no 'fortran_order'") { try Npy.read(path: $0) }
        assertFails(try scratch("struct.npy", withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }")),
                    "structured arrays are not supported") { try Npy.read(path: $0) }
        assertFails(try scratch("scalar.npy", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': 5, }")),
                    "npy header's 'shape' is 5, not a tuple") { try Npy.read(path: $0) }
        assertFails(try scratch("frac.npy", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 2), }")),
                    "malformed npy header near '.5, 2), }") { try Npy.read(path: $0) }
        assertFails("/nonexistent/x.npy", "No such file") { try Npy.read(path: $0) }
    }

    /// Members carry numpy's time (1980-01-01 00:00; DOS date (0 << 9) | (1 << 5) | 1 = 0x21),
    /// so the same arrays give the same file whenever written.
    func testNpzMembersCarryAFixedTime() throws {
        let path = NSTemporaryDirectory() + "/medseg-npz-time-\(getpid()).npz"
        defer { unlink(path) }
        try Npz.write([(name: "segs", array: NDArray(shape: [2, 2], values: [UInt8]([0, 1, 2, 3])))], to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(bytes[0..<4]), [0x50, 0x4B, 0x03, 0x04])   // a local file header
        XCTAssertEqual(Array(bytes[10..<14]), [0, 0, 0x21, 0])
    }

    func testBadNpzFiles() throws {
        let stored = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("2DBox_stored.npz"))))
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("3DBox_demo.npz"))))
        assertFails(try scratch("notzip.npz", Array("just some text".utf8)), "not an npz (zip) archive") { try Npz.read(path: $0) }
        assertFails(try scratch("trunc.npz", Array(compressed.prefix(compressed.count / 2))), "zip") { try Npz.read(path: $0) }
        assertFails(try scratch("empty.npz", []), "is empty (0 bytes)") { try Npz.read(path: $0) }
        assertFails(NSTemporaryDirectory(), "is a directory, not a file") { try Npz.read(path: $0) }
        assertFails("/dev/zero", "is not a regular file") { try Npz.listArrays(path: $0) }
        // Flip one data byte of the stored `imgs` member: the CRC no longer matches.
        var crc = stored
        let at = firstIndex(of: Array("'shape': (5, 7, 3)".utf8), in: stored)! + 100
        crc[at] ^= 0xFF
        assertFails(try scratch("crc.npz", crc), "CRC error") { try Npz.read(path: $0) }
        // Make the header promise more elements than the member holds.
        var liar = stored
        let s = firstIndex(of: Array("(5, 7, 3)".utf8), in: stored)!
        liar.replaceSubrange(s..<(s + 9), with: Array("(9, 7, 3)".utf8))
        assertFails(try scratch("liar.npz", liar), "header promises 189 bytes of data but the member holds 105") { try Npz.read(path: $0) }
        assertFails("/nonexistent/x.npz", "No such file") { try Npz.read(path: $0) }
        // Bytes overwritten inside a compressed member, wherever they land: always "damaged"
        // or a CRC error, never libzip's "No error".
        var state: UInt32 = 1
        let noisy = (0..<(96 * 96)).map { _ -> UInt8 in state = state &* 1_664_525 &+ 1_013_904_223; return UInt8(state >> 27) }
        let good = try scratch("deflate.npz", [])
        try Npz.write([(name: "imgs", array: NDArray(shape: [96, 96], values: noisy))], to: good)
        let deflated = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        XCTAssertGreaterThan(deflated.count, 3000)
        for at in stride(from: 150, to: deflated.count - 300, by: 97) {
            var bad = deflated
            for i in at..<(at + 60) { bad[i] = 0xFF }
            let path = try scratch("deflate-\(at).npz", bad)
            XCTAssertThrowsError(try Npz.read(path: path), "offset \(at)") { e in
                let text = "\(e)"
                XCTAssertTrue((text.contains("damaged") || text.contains("CRC")) && !text.contains("No error"), "offset \(at): \(text)")
            }
        }
    }

    /// A member whose size claim no deflate stream can reach is refused before allocating (a
    /// 282-byte file claiming 60 GB aborted medseg, one claiming 4 GB took 4 GB of memory);
    /// a header longer than 4 KB is read whole (numpy writes such, medseg said "truncated").
    func testNpzClaimsAreBoundedAndLongHeadersRead() throws {
        let good = try scratch("small.npz", [])
        try Npz.write([(name: "imgs", array: NDArray(shape: [64, 64], values: [UInt8](repeating: 3, count: 4096)))], to: good)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        // The uncompressed size in the local header (offset 22) and the central directory's (24).
        let claim = UInt32(0xF000_0000).littleEndian
        for (sig, at) in [([UInt8]([0x50, 0x4B, 0x03, 0x04]), 22), ([0x50, 0x4B, 0x01, 0x02], 24)] {
            let h = try XCTUnwrap(firstIndex(of: sig, in: bytes))
            withUnsafeBytes(of: claim) { bytes.replaceSubrange((h + at)..<(h + at + 4), with: $0) }
        }
        assertFails(try scratch("claim.npz", bytes), "`imgs` claims 4026531840 bytes from") { try Npz.read(path: $0) }
        // Each array on its own, the archive opened once: the bad one is its error.
        let each = try Npz.readEach(path: try scratch("ok.npz", [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))))
        XCTAssertEqual(each.map(\.name), ["imgs"])
        XCTAssertEqual(try each[0].array.get().shape, [64, 64])

        var text = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }"
        text += String(repeating: " ", count: 8000 - 10 - text.count - 1) + "\n"
        let npy = Npy.magic + [1, 0]
            + [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)] + Array(text.utf8) + [1, 2, 3, 4]
        XCTAssertEqual(npy.count, 8004)
        XCTAssertEqual(try Npy.read(path: try scratch("long.npy", npy)).doubles(), [1, 2, 3, 4])
    }

    /// A ground truth with arrays medseg cannot read (a string, a pickle) beside `gts`: the label
    /// map is read, since those arrays are never opened; asked for alone, they are refused.
    func testLabelMapIgnoresArraysItDoesNotUse() throws {
        let path = fixture("3DBox_extra_keys.npz")
        XCTAssertEqual(try Npz.names(path: path), ["gts", "spacing", "modality", "meta"])
        let map = try LabelFile.read(path: path, keys: ["gts"])
        XCTAssertEqual(map.shape, [2, 3, 4])
        XCTAssertEqual(map.spacing, [3, 1, 1])
        XCTAssertEqual(map.labelCounts().map(\.count), [2, 1])
        XCTAssertNil(map.spacingNote)
        assertFails(path, "unsupported dtype") { try Npz.read(path: $0, only: ["modality"]) }
        assertFails(path, "pickles") { try Npz.read(path: $0, only: ["meta"]) }
    }

    /// `spacing` is judged alike wherever it is read: `eval` (LabelFile) refuses one it cannot
    /// use, the workbench (ImageFile) opens the image with 1 mm voxels and says so.
    func testSpacingIsJudgedAlikeByEvalAndTheWorkbench() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-spacing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let imgs = NDArray(shape: [2, 3, 4], values: [UInt8](0..<24)), gts = NDArray(shape: [2, 3, 4], values: [UInt8](repeating: 1, count: 24))
        for (name, spacing) in [("good", [2.5, 0.8, 0.8]), ("huge", [1e7, 1, 1]), ("zero", [0, 1, 1]), ("two", [1, 1]), ("none", nil)] as [(String, [Double]?)] {
            let path = dir.appendingPathComponent("3DBox_\(name).npz").path
            try Npz.write([(name: "imgs", array: imgs), (name: "gts", array: gts)]
                          + (spacing.map { [(name: "spacing", array: NDArray(shape: [$0.count], values: $0))] } ?? []), to: path)
            let image = try ImageFile.open(path: path)
            switch name {
            case "good":
                XCTAssertEqual(image.volume.spacing, [2.5, 0.8, 0.8])
                XCTAssertNil(image.spacingNote)
                XCTAssertEqual(try LabelFile.read(path: path, keys: ["gts"]).spacing, [2.5, 0.8, 0.8])
            case "none":
                XCTAssertEqual(image.volume.spacing, [1, 1, 1])
                XCTAssertEqual(image.spacingNote, "no `spacing` array; voxels taken as 1 mm")
                XCTAssertEqual(image.groundTruth?.spacingNote, image.spacingNote)
                XCTAssertEqual(try LabelFile.read(path: path, keys: ["gts"]).spacingNote, image.spacingNote)
            default:
                XCTAssertEqual(image.volume.spacing, [1, 1, 1], name)
                XCTAssertTrue(image.spacingNote?.hasSuffix("expected three voxel sizes from 1e-6 to 1e6 mm; voxels taken as 1 mm") ?? false, name)
                assertFails(path, "expected three voxel sizes from 1e-6 to 1e6 mm") { try LabelFile.read(path: $0, keys: ["gts"]) }
            }
        }
        // A 2D image has no spacing to miss.
        let flat = dir.appendingPathComponent("2DBox_flat.npz").path
        try Npz.write([(name: "imgs", array: NDArray(shape: [3, 4, 3], values: [UInt8](repeating: 9, count: 36)))], to: flat)
        XCTAssertNil(try ImageFile.open(path: flat).spacingNote)
    }

    /// An 8-bit image stored as float (whole numbers 0-255) is taken as bytes; a 0-1 float image
    /// is windowed like any other (it was taken as bytes and showed black).
    func testFloatImagesAreBytesOnlyWhenTheyHoldWholeBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-floatimg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ramp: [Float] = (0..<24).map { Float($0) }
        let cases: [(String, [Float], Bool)] = [("whole", ramp.map { $0 * 10 }, true), ("unit", ramp.map { $0 / 23 }, false),
                                                ("nan", [Float.nan] + ramp.dropFirst(), false), ("big", ramp.map { $0 * 20 }, false)]
        for (name, values, bytes) in cases {
            let path = dir.appendingPathComponent("2DBox_\(name).npz").path
            try Npz.write([(name: "imgs", array: NDArray(shape: [4, 6], values: values))], to: path)
            XCTAssertEqual(try ImageFile.open(path: path).isUInt8, bytes, name)
            XCTAssertEqual(Windowing.holdsWholeBytes(values), bytes, name)
            // The same rule for an npy file; a 3D one says its voxels are taken as 1 mm.
            let npy = dir.appendingPathComponent("\(name).npy").path
            try Npy.write(NDArray(shape: [2, 3, 4], values: values), to: npy)
            let opened = try ImageFile.open(path: npy)
            XCTAssertEqual(opened.isUInt8, bytes, name)
            XCTAssertEqual(opened.spacingNote, "an npy file holds no spacing; voxels taken as 1 mm")
        }
    }

    /// A file that is not a regular file is refused at once: reading a pipe would wait forever.
    func testPipesAndDirectoriesAreNotFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("labels.nii").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertFails(fifo, "is a pipe, not a file") { try LabelFile.read(path: $0, keys: ["gts"]) }
        assertFails(fifo, "is a pipe, not a file") { try ImageFile.open(path: $0) }
        assertFails(dir.path, "is a directory, not a file") { try FileFormat.detect(path: $0) }
    }

    func firstIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}

/// The directory part of a path, hand-worked (NSString's own traps on one-character names).
final class PathTextTests: XCTestCase {
    /// `~` is $HOME as the shell has it (Foundation took the user database's home instead, so a
    /// save went to /root while HOME named another folder); `~user` is that user's home.
    func testTildeIsTheShellsHome() {
        let saved = getenv("HOME").map { String(cString: $0) }
        defer { if let saved { setenv("HOME", saved, 1) } else { unsetenv("HOME") } }
        setenv("HOME", "/tmp/fake home", 1)
        XCTAssertEqual(PathText.expandingTilde("~/a b.npz"), "/tmp/fake home/a b.npz")
        XCTAssertEqual(PathText.expandingTilde("~"), "/tmp/fake home")
        XCTAssertEqual(PathText.expandingTilde("~/"), "/tmp/fake home/")
        XCTAssertEqual(PathText.expandingTilde("a/~/b"), "a/~/b")
        XCTAssertEqual(PathText.expandingTilde("~no-such-user-here/x"), "~no-such-user-here/x")
        XCTAssertEqual(PathText.expandingTilde("~root/x.npz"), String(cString: getpwnam("root")!.pointee.pw_dir) + "/x.npz")
        setenv("HOME", "/", 1)
        XCTAssertEqual(PathText.expandingTilde("~/x"), "/x")
    }

    func testParent() {
        for (path, parent) in [("z", ""), ("x/", ""), ("zz", ""), ("", ""), ("/", "/"), ("//", "/"), ("/a", "/"), ("/a/", "/"),
                               ("a/b", "a"), ("a//b/", "a"), ("/data/case.npz", "/data"), ("./z", "."), ("../o/", ".."),
                               ("a/b/c.nii.gz", "a/b")] {
            XCTAssertEqual(PathText.parent(path), parent, path)
        }
    }
}
