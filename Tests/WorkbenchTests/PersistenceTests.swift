import Foundation
import XCTest
import Volumes
@testable import Workbench

/// The recovery file: written, restored, and never offered for (nor overwritten by) another image.
final class PersistenceTests: XCTestCase {
    func session(_ d: Int, _ h: Int, _ w: Int, value: Float = 7) throws -> Session {
        let image = OpenedImage(volume: Volume(shape: [d, h, w], voxels: [Float](repeating: value, count: d * h * w), spacing: [1, 1, 1], is3D: true),
                                format: .npz, groundTruth: nil, boxes: [], niftiGeometry: nil, looksLikeCT: false, isUInt8: true)
        return try Session(path: "/tmp/medseg-persistence-case.npz", image: image, groundTruth: nil, outputPath: nil)
    }

    /// Runs `body` with MEDSEG_HOME in a fresh temporary folder.
    func withHome(_ body: () throws -> Void) throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-home-\(UUID().uuidString)").path
        let old = ProcessInfo.processInfo.environment["MEDSEG_HOME"]
        setenv("MEDSEG_HOME", home, 1)
        defer {
            if let old { setenv("MEDSEG_HOME", old, 1) } else { unsetenv("MEDSEG_HOME") }
            try? FileManager.default.removeItem(atPath: home)
        }
        try body()
    }

    func mask(_ voxels: [Int], _ d: Int, _ h: Int, _ w: Int) -> ObjectMask? {
        var full = [UInt8](repeating: 0, count: d * h * w)
        for v in voxels { full[v] = 1 }
        return ObjectMask.crop({ full[$0] != 0 }, depth: d, height: h, width: w, zRange: 0...(d - 1))
    }

    /// Each object comes back with its own mask and state: an earlier object keeps the voxels a
    /// later one covers, an empty result stays empty (not "not segmented"), a changed box keeps
    /// its mask and stays changed.
    func testRestoreGivesBackEachObjectExactly() throws {
        try withHome {
            let s = try session(3, 5, 6)
            let first = mask([31, 32, 33, 37, 38, 39, 62], 3, 5, 6)!     // slices 1 and 2
            let second = mask([32, 33, 34, 38], 3, 5, 6)!                // overlaps the first
            let objects = [
                SegObject(id: 1, label: 2, x0: 0, y0: 0, x1: 4, y1: 3, z0: 0, z1: 2, mask: first, stale: false),
                SegObject(id: 2, label: 5, x0: 1, y0: 0, x1: 5, y1: 2, z0: 1, z1: 1, mask: second, stale: false),
                SegObject(id: 3, label: 2, x0: 3, y0: 3, x1: 5, y1: 4, z0: 2, z1: 2, mask: nil, stale: false),   // empty
                SegObject(id: 4, label: 7, x0: 0, y0: 0, x1: 1, y1: 1, z0: 0, z1: 0, mask: nil, stale: true),    // not segmented
                SegObject(id: 5, label: 9, x0: 4, y0: 1, x1: 0, y1: 4, z0: 1, z1: 2, mask: second, stale: true), // box changed
                SegObject(id: 6, label: 3, x0: 1, y0: 1, x1: 4, y1: 3, z0: 0, z1: 1, mask: nil, stale: true,
                          exact: [0.6, 1.25, 4.4, 3.5]),                                                       // a file's box
            ]
            try Persistence.autosave(objects, session: s)
            let back = try Persistence.restore(session: s)
            XCTAssertEqual(back.count, objects.count)
            for (b, o) in zip(back, objects) {
                XCTAssertEqual(b.id, o.id); XCTAssertEqual(b.label, o.label); XCTAssertEqual(b.place, o.place)
                XCTAssertEqual(b.stale, o.stale, "object \(o.id)")
                XCTAssertEqual(b.exact, o.exact, "object \(o.id)")
                XCTAssertEqual(b.mask == nil, o.mask == nil, "object \(o.id)")
                if let bm = b.mask, let om = o.mask {
                    XCTAssertEqual([bm.z0, bm.y0, bm.x0, bm.d, bm.h, bm.w], [om.z0, om.y0, om.x0, om.d, om.h, om.w])
                    XCTAssertEqual(bm.bits, om.bits, "object \(o.id)")
                }
            }
            // A file box's corners outside the image: the file is not one we wrote.
            let path = Persistence.recoveryPath(for: s.path)
            var arrays = try Npz.read(path: path)
            let e = try XCTUnwrap(arrays.firstIndex { $0.name == "exact" })
            var corners = try XCTUnwrap(arrays[e].array.values(as: Double.self))
            corners[5 * 4 + 2] = 6.5   // the image is 6 wide
            arrays[e].array = NDArray(shape: [6, 4], values: corners)
            try Npz.write(arrays, to: path)
            XCTAssertThrowsError(try Persistence.restore(session: s)) { XCTAssertTrue("\($0)".contains("damaged"), "\($0)") }
            XCTAssertEqual(back[0].mask?.voxelCount, 7)     // the composite holds only 4 of them as label 2
            // What is saved (the composite) is the same from the restored objects.
            XCTAssertEqual(composite(back, depth: 3, height: 5, width: 6), composite(objects, depth: 3, height: 5, width: 6))
        }
    }

    /// A saved segmentation loads back as one object per label: its voxels, their bounding box.
    func testASavedSegmentationLoadsBackAsObjects() throws {
        let s = try session(3, 5, 6)
        let objects = [
            SegObject(id: 1, label: 2, x0: 0, y0: 0, x1: 5, y1: 4, z0: 0, z1: 2, mask: mask([31, 32, 33, 37, 38, 39, 62], 3, 5, 6), stale: false),
            SegObject(id: 2, label: 300, x0: 0, y0: 0, x1: 5, y1: 4, z0: 1, z1: 1, mask: mask([32, 33, 34, 38], 3, 5, 6), stale: false),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-load-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["s.npz", "s.nii.gz"] {
            try Persistence.save(objects, session: s, to: dir + "/" + name)
            let back = try Persistence.load(dir + "/" + name, session: s)
            XCTAssertEqual(back.map(\.label), [2, 300], name)
            // Label 2 keeps what label 300 did not cover: voxels 31, 37, 39 and 62.
            XCTAssertEqual(back[0].mask?.voxelCount, 4, name)
            XCTAssertEqual([back[0].x0, back[0].y0, back[0].x1, back[0].y1, back[0].z0, back[0].z1], [1, 0, 3, 1, 1, 2], name)
            XCTAssertEqual([back[1].x0, back[1].y0, back[1].x1, back[1].y1, back[1].z0, back[1].z1], [2, 0, 4, 1, 1, 1], name)
            XCTAssertFalse(back.contains(where: \.stale))
            XCTAssertEqual(composite(back, depth: 3, height: 5, width: 6), composite(objects, depth: 3, height: 5, width: 6), name)
        }
        XCTAssertThrowsError(try Persistence.load(s.path, session: s)) { XCTAssertTrue("\($0)".contains("is the open image"), "\($0)") }
        XCTAssertThrowsError(try Persistence.load(dir + "/s.npz", session: try session(3, 5, 7))) {
            XCTAssertTrue("\($0)".contains("has shape [3, 5, 6] but the image is [3, 5, 7]"), "\($0)")
        }
    }

    /// Autosave, removal, autosave, all asked while the queue was busy (undo back to the saved
    /// state, then redo): the removal must not come last (it did, and unsaved work had no
    /// recovery file until the next edit).
    func testTheRecoveryFileFollowsTheOrderOfTheRequests() {
        let queue = DispatchQueue(label: "test.recovery")
        let log = Log()
        let writer = RecoveryWriter(queue: queue, write: { log.add("write \($0.map(\.id))") }, discard: { log.add("discard") })
        func object(_ id: Int) -> SegObject { SegObject(id: id, label: 1, x0: 0, y0: 0, x1: 1, y1: 1, z0: 0, z1: 0, mask: nil, stale: true) }
        queue.suspend()
        writer.autosave([object(1)])
        writer.discardRecovery()
        writer.autosave([object(2)])
        writer.autosave([object(3)])   // replaces 2, waiting behind the removal
        queue.resume()
        queue.sync {}
        XCTAssertEqual(log.entries, ["discard", "write [3]"])
        // Without a removal between them, waiting autosaves write the newest once; a later one
        // writes again.
        queue.suspend()
        writer.autosave([object(4)])
        writer.autosave([object(5)])
        queue.resume()
        queue.sync {}
        writer.autosave([object(6)])
        queue.sync {}
        XCTAssertEqual(log.entries, ["discard", "write [3]", "write [5]", "write [6]"])
    }

    /// A recovery file of an earlier version (composite `segs` and a 9-column table) is still restored.
    func testAnEarlierVersionsRecoveryFileIsRestored() throws {
        try withHome {
            let s = try session(2, 3, 3)
            var segs = [UInt16](repeating: 0, count: 18); segs[4] = 3; segs[13] = 3; segs[14] = 3
            let table: [Int32] = [1, 3, 0, 0, 2, 2, 0, 1, 1,   2, 4, 0, 0, 1, 1, 0, 0, 0]
            try FileManager.default.createDirectory(atPath: DataHome.path + "/recovery", withIntermediateDirectories: true)
            try Npz.write([(name: "segs", array: NDArray(shape: [18], values: segs)),
                           (name: "objects", array: NDArray(shape: [2, 9], values: table))], to: Persistence.recoveryPath(for: s.path))
            XCTAssertNil(Persistence.setAsideIfForAnotherImage(s))
            let back = try Persistence.restore(session: s)
            XCTAssertEqual(back.map(\.label), [3, 4])
            XCTAssertEqual(back[0].mask?.voxelCount, 3)
            XCTAssertEqual(back.map(\.stale), [false, true])
        }
    }

    /// A damaged recovery file (a mask block running past the image) is refused with a message, not a crash.
    func testADamagedRecoveryFileIsRefused() throws {
        try withHome {
            let s = try session(2, 3, 3)
            let table: [Int32] = [1, 3, 0, 0, 2, 2, 0, 1, 0, 1, 0, 0, 0, 2, 3, 4]
            try FileManager.default.createDirectory(atPath: DataHome.path + "/recovery", withIntermediateDirectories: true)
            try Npz.write([(name: "shape", array: NDArray(shape: [3], values: [Int64(2), 3, 3])),
                           (name: "objects", array: NDArray(shape: [1, 16], values: table)),
                           (name: "masks", array: NDArray(shape: [24], values: [UInt8](repeating: 1, count: 24)))],
                          to: Persistence.recoveryPath(for: s.path))
            XCTAssertThrowsError(try Persistence.restore(session: s)) { XCTAssertTrue("\($0)".contains("damaged"), "\($0)") }
            // An object whose slices run backwards or out of the image (what a crash could
            // leave) is refused too, not restored into an object that cannot be drawn.
            for bad: [Int32] in [[1, 3, 0, 0, 2, 2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0], [1, 3, 0, 0, 2, 2, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0],
                                 [1, 0, 0, 0, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0], [1, 3, 0, 0, 3, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0],
                                 [1, 3, 0, 0, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0] + [1, 4, 0, 0, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]] {
                try Npz.write([(name: "shape", array: NDArray(shape: [3], values: [Int64(2), 3, 3])),
                               (name: "objects", array: NDArray(shape: [bad.count / 16, 16], values: bad)),
                               (name: "masks", array: NDArray(shape: [0], values: [UInt8]()))],
                              to: Persistence.recoveryPath(for: s.path))
                XCTAssertThrowsError(try Persistence.restore(session: s), "\(bad)") { XCTAssertTrue("\($0)".contains("damaged"), "\($0)") }
            }
            let good: [Int32] = [1, 3, 0, 0, 2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
            try Npz.write([(name: "shape", array: NDArray(shape: [3], values: [Int64(2), 3, 3])),
                           (name: "objects", array: NDArray(shape: [1, 16], values: good)),
                           (name: "masks", array: NDArray(shape: [0], values: [UInt8]()))],
                          to: Persistence.recoveryPath(for: s.path))
            XCTAssertEqual(try Persistence.restore(session: s).map(\.z1), [1])
        }
    }

    /// The same image through a symlinked folder has the same recovery file (and lock).
    func testRecoveryIsNamedForTheRealFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-real-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/real/ct.nii.gz", contents: Data()))
        XCTAssertEqual(symlink(dir + "/real", dir + "/link"), 0)
        XCTAssertEqual(Persistence.recoveryPath(for: dir + "/link/ct.nii.gz"), Persistence.recoveryPath(for: dir + "/real/ct.nii.gz"))
        XCTAssertNotEqual(Persistence.recoveryPath(for: dir + "/real/other.nii.gz"), Persistence.recoveryPath(for: dir + "/real/ct.nii.gz"))
    }

    /// Save targets that cannot be written as files are refused before any writing: a pipe
    /// would block the queue the autosaves use until something read it.
    func testSaveTargetsThatAreNotFilesAreRefused() throws {
        let s = try session(2, 3, 3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-targets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(mkfifo(dir + "/fifo.nii.gz", 0o600), 0)
        XCTAssertEqual(Persistence.unusableTarget(dir + "/fifo.nii.gz", session: s), "\(dir)/fifo.nii.gz is not a regular file (a pipe or a device)")
        XCTAssertEqual(Persistence.unusableTarget(dir, session: s), "\(dir) is a directory")
        XCTAssertNil(Persistence.unusableTarget(dir + "/new.nii.gz", session: s))
    }

    /// Lock files left by killed sessions go when nobody holds them and their recovery file is
    /// gone; a held one and one beside its recovery file stay. So do autosaves killed half-written.
    func testLeftLockFilesAreCleared() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-locks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A half-written autosave of a process that has ended goes; this process's stays.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let dead = ".left.npz.tmp-\(ended.processIdentifier)-7.npz", live = ".mine.npz.tmp-\(getpid())-8.npz"
        for name in ["left.npz.lock", "kept.npz.lock", "kept.npz", "held.npz.lock", "mine.npz.lock", dead, live] {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data()))
        }
        let fd = open(dir + "/held.npz.lock", O_RDWR)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        defer { close(fd) }
        Persistence.clearLeftLocks(in: dir, except: dir + "/mine.npz.lock")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       [live, "held.npz.lock", "kept.npz", "kept.npz.lock", "mine.npz.lock"])
    }

    func testARecoveryFileForAnImageOfAnotherSizeIsSetAsideNotOffered() throws {
        try withHome {
            let small = try session(2, 4, 4)
            var mask = [UInt8](repeating: 0, count: 32); mask[5] = 1; mask[6] = 1
            let o = SegObject(id: 1, label: 3, x0: 0, y0: 0, x1: 3, y1: 3, z0: 0, z1: 1,
                              mask: ObjectMask.crop({ mask[$0] != 0 }, depth: 2, height: 4, width: 4, zRange: 0...1), stale: false)
            try Persistence.autosave([o], session: small)
            // The same image: nothing set aside, and the object comes back.
            XCTAssertNil(Persistence.setAsideIfForAnotherImage(small))
            let back = try Persistence.restore(session: small)
            XCTAssertEqual(back.map(\.label), [3])
            XCTAssertEqual(back[0].mask?.voxelCount, 2)
            XCTAssertTrue(try XCTUnwrap(Persistence.recoverySummary(for: small)).hasPrefix("1 object, today "))
            // The file at that path replaced by another image of the same size: set aside too.
            let other = try session(2, 4, 4, value: 9)
            let replaced = try XCTUnwrap(Persistence.setAsideIfForAnotherImage(other))
            XCTAssertFalse(Persistence.hasRecovery(for: other))
            try FileManager.default.moveItem(atPath: replaced, toPath: Persistence.recoveryPath(for: small.path))
            // The file at that path replaced by a bigger image: the recovery is moved aside, kept.
            let big = try session(2, 4, 5)
            let aside = try XCTUnwrap(Persistence.setAsideIfForAnotherImage(big))
            XCTAssertFalse(Persistence.hasRecovery(for: big))
            XCTAssertTrue(aside.contains("-other-image-"), aside)
            XCTAssertEqual(try Npz.listArrays(path: aside).map(\.name), ["shape", "image", "objects", "masks", "exact"])
            // Set aside again (the small image's recovery, the same second): the first one stays.
            try Persistence.autosave([o], session: small)
            let again = try XCTUnwrap(Persistence.setAsideIfForAnotherImage(big))
            XCTAssertNotEqual(again, aside)
            XCTAssertTrue(FileManager.default.fileExists(atPath: aside))
            XCTAssertTrue(FileManager.default.fileExists(atPath: again))
        }
    }
}

/// Lines appended from a queue's thread.
private final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var entries: [String] = []
    func add(_ s: String) { lock.lock(); entries.append(s); lock.unlock() }
}
