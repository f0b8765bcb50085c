import Foundation
import XCTest
import Volumes
@testable import Workbench

/// The recovery file: written, restored, and never offered for (nor overwritten by) another image.
final class PersistenceTests: XCTestCase {
    func session(_ d: Int, _ h: Int, _ w: Int) throws -> Session {
        let image = OpenedImage(volume: Volume(shape: [d, h, w], voxels: [Float](repeating: 7, count: d * h * w), spacing: [1, 1, 1], is3D: true),
                                format: .npz, groundTruth: nil, boxes: [], niftiGeometry: nil, looksLikeCT: false, isUInt8: true)
        return try Session(path: "/tmp/medseg-persistence-case.npz", image: image, groundTruth: nil, outputPath: nil)
    }

    func testARecoveryFileForAnImageOfAnotherSizeIsSetAsideNotOffered() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-home-\(UUID().uuidString)").path
        let old = ProcessInfo.processInfo.environment["MEDSEG_HOME"]
        setenv("MEDSEG_HOME", home, 1)
        defer {
            if let old { setenv("MEDSEG_HOME", old, 1) } else { unsetenv("MEDSEG_HOME") }
            try? FileManager.default.removeItem(atPath: home)
        }
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
        // The file at that path replaced by a bigger image: the recovery is moved aside, kept.
        let big = try session(2, 4, 5)
        let aside = try XCTUnwrap(Persistence.setAsideIfForAnotherImage(big))
        XCTAssertFalse(Persistence.hasRecovery(for: big))
        XCTAssertTrue(aside.contains("-other-image-"), aside)
        XCTAssertEqual(try Npz.listArrays(path: aside).map(\.name), ["segs", "objects"])
        // Set aside again (the small image's recovery, the same second): the first one stays.
        try Persistence.autosave([o], session: small)
        let again = try XCTUnwrap(Persistence.setAsideIfForAnotherImage(big))
        XCTAssertNotEqual(again, aside)
        XCTAssertTrue(FileManager.default.fileExists(atPath: aside))
        XCTAssertTrue(FileManager.default.fileExists(atPath: again))
    }
}
