import XCTest
@testable import Volumes

final class LabelMapTests: XCTestCase {
    func testLabelsFromIntegerAndFloatArrays() throws {
        let i64 = NDArray(shape: [2, 2], values: [Int64(0), 3, 65535, 1])
        XCTAssertEqual(try LabelMap.labels(from: i64), [0, 3, 65535, 1])
        let f = NDArray(shape: [3], values: [Float(2), 0, 7])
        XCTAssertEqual(try LabelMap.labels(from: f), [2, 0, 7])
        let b = NDArray(shape: [2], values: [true, false])
        XCTAssertEqual(try LabelMap.labels(from: b), [1, 0])
    }

    func testLabelsRefuseNegativeFractionalAndHugeValues() {
        for bad in [NDArray(shape: [1], values: [Int32(-1)]), NDArray(shape: [1], values: [Double(1.5)]),
                    NDArray(shape: [1], values: [Int32(70000)]), NDArray(shape: [1], values: [Float.nan])] {
            XCTAssertThrowsError(try LabelMap.labels(from: bad)) { e in
                XCTAssertTrue("\(e)".contains("labels must be whole numbers"), "\(e)")
            }
        }
    }

    func testLabelCounts() {
        let m = LabelMap(shape: [2, 3], labels: [0, 2, 2, 5, 0, 2], spacing: [1, 1])
        XCTAssertEqual(m.labelCounts().map { [$0.label, $0.count] }, [[2, 3], [5, 1]])
    }

    func testBoxesParse2DAnd3DAndRefuseBadShapes() throws {
        let b2 = try Boxes.parse(NDArray(shape: [1, 4], values: [Int64(1), 2, 30, 40]))
        XCTAssertEqual(b2, [.flat(Box2D(x0: 1, y0: 2, x1: 30, y1: 40))])
        let b3 = try Boxes.parse(NDArray(shape: [1, 6], values: [Double(1), 2, 3, 30, 40, 9]))
        XCTAssertEqual(b3, [.stack(Box3D(xy: Box2D(x0: 1, y0: 2, x1: 30, y1: 40), z0: 3, z1: 9))])
        XCTAssertThrowsError(try Boxes.parse(NDArray(shape: [2, 5], values: [Int32](repeating: 0, count: 10))))
        XCTAssertThrowsError(try Boxes.parse(NDArray(shape: [1, 4], values: [Double.nan, 0, 1, 1])))
    }

    func testAtomicWriteReplacesAndLeavesNoTemporaryFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-atomic-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.nii.gz").path
        try AtomicFile.write("first", to: path)
        try AtomicFile.write("second", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.nii.gz"])
        XCTAssertTrue(AtomicFile.temporaryPath(for: path).hasSuffix(".nii.gz"))
        // A failing body leaves the old file and no temporary behind.
        XCTAssertThrowsError(try AtomicFile.replace(path) { tmp in
            try "partial".write(toFile: tmp, atomically: false, encoding: .utf8)
            throw VolumeError("disk full")
        })
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.nii.gz"])
        XCTAssertThrowsError(try AtomicFile.write("x", to: dir.appendingPathComponent("no/such/dir/f").path))

        // What killed writers left in the folder (their temporary files, and libzip's own beside
        // one) goes at the first write there; a live writer's stays. (This folder is new to the
        // process: its name has a UUID.)
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let dead = ended.processIdentifier
        let fresh = dir.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
        let left = [".out.nii.gz.tmp-\(dead)-5.nii.gz", ".out.nii.gz.tmp-\(dead)-5.nii.gz.ab12Cd", ".other.npz.tmp-\(dead)-1.npz"]
        let kept = [".out.nii.gz.tmp-\(getpid())-6.nii.gz", ".out.nii.gz.tmp-notapid-2.nii.gz", "notes.tmp-\(dead)-1.txt"]
        for name in left + kept { XCTAssertTrue(FileManager.default.createFile(atPath: fresh.appendingPathComponent(name).path, contents: Data())) }
        try AtomicFile.write("third", to: fresh.appendingPathComponent("out.nii.gz").path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: fresh.path).sorted(), (kept + ["out.nii.gz"]).sorted())
    }

    /// A write goes through a symlink to the file it names (the link stays a link, dangling or
    /// not), into a FIFO as a stream (it stays a FIFO), and refuses a directory.
    func testAtomicWriteThroughLinksAndIntoPipes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-atomic-links-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default, d = dir.path
        try "old".write(toFile: d + "/target.csv", atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: d + "/link.csv", withDestinationPath: "target.csv")
        try fm.createSymbolicLink(atPath: d + "/link2.csv", withDestinationPath: d + "/link.csv")
        try AtomicFile.write("new", to: d + "/link2.csv")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: d + "/link.csv"), "target.csv")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: d + "/link2.csv"), d + "/link.csv")
        XCTAssertEqual(try String(contentsOfFile: d + "/target.csv", encoding: .utf8), "new")
        try fm.createSymbolicLink(atPath: d + "/dangling.csv", withDestinationPath: "later.csv")
        try AtomicFile.write("made", to: d + "/dangling.csv")
        XCTAssertEqual(try String(contentsOfFile: d + "/later.csv", encoding: .utf8), "made")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: d + "/dangling.csv"), "later.csv")
        // A FIFO: a reader gets the bytes, and the FIFO is still one afterwards.
        XCTAssertEqual(mkfifo(d + "/fifo", 0o600), 0)
        final class Got: @unchecked Sendable { var data = Data() }
        let got = Got()
        let reader = Thread {
            let fd = open(d + "/fifo", O_RDONLY)
            var buf = [UInt8](repeating: 0, count: 256)
            while fd >= 0 { let n = read(fd, &buf, buf.count); if n <= 0 { break }; got.data.append(contentsOf: buf[0..<n]) }
            close(fd)
        }
        reader.start()
        try AtomicFile.write("through the pipe", to: d + "/fifo")
        while !reader.isFinished { usleep(1000) }
        XCTAssertEqual(String(decoding: got.data, as: UTF8.self), "through the pipe")
        XCTAssertEqual((try fm.attributesOfItem(atPath: d + "/fifo"))[.type] as? FileAttributeType, .typeUnknown)   // not .typeRegular
        XCTAssertThrowsError(try AtomicFile.write("x", to: d)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        XCTAssertNoThrow(try AtomicFile.write("gone", to: "/dev/null"))
        var st = stat()
        XCTAssertEqual(stat("/dev/null", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR)
    }

    /// Grids compared by hand: the same affine, one axis reversed, voxels 2% larger, origins
    /// 0.6 and 0.4 voxels apart, and no affine at all.
    func testGridMismatch() {
        let a: [[Double]] = [[1, 0, 0, -90], [0, 1, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]]
        XCTAssertNil(LabelMap.gridMismatch(a, a))
        XCTAssertNil(LabelMap.gridMismatch(a, nil))
        XCTAssertNil(LabelMap.gridMismatch(nil, a))
        var flipped = a; flipped[0][0] = -1; flipped[0][3] = 90
        XCTAssertEqual(LabelMap.gridMismatch(a, flipped), "their x axes point different ways (the files are stored in different orientations)")
        var bigger = a; bigger[2][2] = 2.04
        XCTAssertEqual(LabelMap.gridMismatch(a, bigger), "their voxels differ in size along z")
        var shifted = a; shifted[1][3] += 0.6
        XCTAssertEqual(LabelMap.gridMismatch(a, shifted), "their origins are 0.6 mm apart")
        shifted[1][3] -= 0.2
        XCTAssertNil(LabelMap.gridMismatch(a, shifted), "0.4 of the smallest voxel is the same grid")
    }
}
