import Foundation
import XCTest
@testable import SegEngine

/// The checkpoint reader against Python's own pickle (tools/fixtures/make_checkpoint_fixtures.py).
final class CheckpointTests: XCTestCase {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/checkpoint")

    func testRealCheckpointMatchesPythonPickleReference() throws {
        let c = try Checkpoint.load(path: try ModelFixtures.modelPath())
        let data = try Data(contentsOf: Self.dir.appendingPathComponent("reference.json"))
        let ref = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertEqual(c.order.count, 435)
        XCTAssertEqual(c.order, ref["keys"] as! [String])
        for (key, r) in ref["tensors"] as! [String: [String: Any]] {
            let t = try XCTUnwrap(c.tensors[key], key)
            XCTAssertEqual(t.shape, r["shape"] as! [Int], key)
            let sum = t.values.reduce(0.0) { $0 + Double($1) }, sumsq = t.values.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertEqual(sum, r["sum"] as! Double, accuracy: 1e-5 * max(1, abs(r["sum"] as! Double)), key)
            XCTAssertEqual(sumsq, r["sumsq"] as! Double, accuracy: 1e-5 * max(1, r["sumsq"] as! Double), key)
            for (a, b) in zip(t.values.prefix(3), r["first"] as! [Double]) { XCTAssertEqual(Double(a), b, accuracy: 1e-7 * max(1, abs(b)), key) }
        }
    }

    func testTrainingCheckpointWithNestedModelStridedViewAndLongScalar() throws {
        let c = try Checkpoint.load(path: Self.dir.appendingPathComponent("finetuned.pth").path)
        XCTAssertEqual(c.order, ["layer.weight", "layer.bias", "bn.num_batches_tracked", "view.transposed"])
        XCTAssertEqual(c.tensors["layer.weight"]!.values, [0, 0.25, 0.5, 0.75, 1, 1.25])
        XCTAssertEqual(c.tensors["bn.num_batches_tracked"]!.shape, [])
        XCTAssertEqual(c.tensors["bn.num_batches_tracked"]!.values, [7])
        // Offset 1, size (4, 2), stride (1, 4) over 0..11: rows [1,5], [2,6], [3,7], [4,8].
        XCTAssertEqual(c.tensors["view.transposed"]!.values, [1, 5, 2, 6, 3, 7, 4, 8])
    }

    func testBadCheckpointsGiveOneLineErrors() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        func expect(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let p = tmp.appendingPathComponent("x.pth").path
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try Checkpoint.load(path: p), file: file, line: line) { e in
                XCTAssertTrue("\(e)".hasPrefix(p) && "\(e)".contains(fragment) && !"\(e)".contains("\n"), "\(e)", file: file, line: line)
            }
        }
        let good = [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent("finetuned.pth")))
        try expect(Array("not a zip".utf8), "not a PyTorch checkpoint")
        try expect(Array(good.prefix(good.count / 2)), "damaged")
        // Corrupt the pickle's first opcode (PROTO 0x80 0x02 at the start of data.pkl) into an unknown one.
        var bad = good
        let pkl = firstIndex(of: [0x80, 0x02, 0x7D], in: good)!
        bad[pkl] = 0xFE
        try expect(bad, "unsupported pickle opcode 0xfe")
        // Truncate a storage: rename data/3 so the strided view's storage is missing.
        var missing = good
        for i in indices(of: Array("archive/data/3".utf8), in: good) { missing[i + 13] = UInt8(ascii: "9") }
        try expect(missing, "missing archive member 'archive/data/3'")
        XCTAssertThrowsError(try Checkpoint.load(path: tmp.appendingPathComponent("absent.pth").path))
        XCTAssertThrowsError(try Checkpoint.load(path: tmp.path)) { e in
            XCTAssertEqual("\(e)", "\(tmp.path): is a directory, not a checkpoint file")
        }
        // A checkpoint that lacks the model's weights is named in the error (convert said only
        // which weight was missing, not where).
        XCTAssertThrowsError(try ModelFile.convert(checkpoint: Self.dir.appendingPathComponent("finetuned.pth").path,
                                                   output: tmp.appendingPathComponent("m.medseg").path)) { e in
            XCTAssertTrue("\(e)".hasPrefix(Self.dir.appendingPathComponent("finetuned.pth").path + ": missing weight"), "\(e)")
        }
    }

    /// A weight with NaN or an infinity (a diverged fine-tune) is refused by name; finite extremes pass.
    func testNonFiniteWeightsAreRefused() throws {
        for bad: Float in [.nan, .infinity, -.infinity] {
            let r = WeightReader(tensors: ["w": TensorData(shape: [3], values: [1, bad, 2])], order: ["w"])
            XCTAssertThrowsError(try r.take("w", [3])) { e in
                XCTAssertEqual("\(e)", "weight 'w' holds NaN or infinite values")
            }
        }
        let ok = WeightReader(tensors: ["w": TensorData(shape: [3], values: [.greatestFiniteMagnitude, -0, .leastNonzeroMagnitude])], order: ["w"])
        XCTAssertEqual(try ok.take("w", [3]).count, 3)
    }

    func firstIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? { indices(of: needle, in: hay).first }
    func indices(of needle: [UInt8], in hay: [UInt8]) -> [Int] {
        (0...(hay.count - needle.count)).filter { hay[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
