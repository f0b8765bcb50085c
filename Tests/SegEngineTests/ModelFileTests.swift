import Foundation
import XCTest
@testable import SegEngine

/// `medseg convert`'s model file: the model loaded from it computes exactly what the model
/// quantized from the checkpoint computes; damaged files are refused with one-line errors.
final class ModelFileTests: XCTestCase {
    func tempPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("medseg-\(UUID().uuidString)-\(name)").path
    }

    func testConvertedFileLoadsTheSameModel() throws {
        let out = tempPath("m.medseg")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try ModelFile.convert(checkpoint: try ModelFixtures.modelPath(), output: out)
        XCTAssertTrue(ModelFile.isModelFile(out))
        // Every layer gets exactly the int8 weights quantizing the checkpoint gives it.
        let c = try Checkpoint.load(path: try ModelFixtures.modelPath())
        let fromCheckpoint = try Int8Weights.recording { _ = try LiteMedSAM(tensors: c.tensors, order: c.order, precision: .int8) }
        let fromFile = try Int8Weights.recording { _ = try LiteMedSAM(checkpointPath: out, precision: .int8) }
        XCTAssertEqual(fromFile.count, fromCheckpoint.count)
        XCTAssertGreaterThan(fromFile.count, 50)
        for (x, y) in zip(fromFile, fromCheckpoint) {
            XCTAssertEqual(x.values, y.values)
            XCTAssertEqual(x.scales, y.scales)
            XCTAssertEqual(x.columnSums, y.columnSums)
        }
        // The float tensors are all there too: fp32 from the file is the fp32 model.
        var g = SplitMix(seed: 21)
        let image = Tensor(shape: [256, 256, 3], data: (0..<(256 * 256 * 3)).map { _ in Float(g.next() % 1000) / 1000 })
        let a = try LiteMedSAM(checkpointPath: out, precision: .fp32).embed(image), b = try ModelFixtures.model().embed(image)
        var se = 0.0, ss = 0.0
        for i in a.data.indices { let d = Double(a.data[i] - b.data[i]); se += d * d; ss += Double(b.data[i] * b.data[i]) }
        XCTAssertLessThan(se / ss, 1e-10)
        // And bf16 from the file is the bf16 model of the checkpoint, to the bit.
        if CPUFeatures.bf16 {
            XCTAssertEqual(try LiteMedSAM(checkpointPath: out, precision: .bf16).embed(image).data,
                           try ModelFixtures.bf16Model().embed(image).data)
        }
    }

    func testDamagedFilesAreRefused() throws {
        let out = tempPath("m.medseg")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try ModelFile.convert(checkpoint: try ModelFixtures.modelPath(), output: out)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        let cut = tempPath("cut.medseg"), bad = tempPath("bad.medseg"), old = tempPath("old.medseg")
        defer { for p in [cut, bad, old] { try? FileManager.default.removeItem(atPath: p) } }
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        var v = bytes; v[8] = 9
        try v.write(to: URL(fileURLWithPath: old))
        var m = bytes; m[0] = 0x4E
        try m.write(to: URL(fileURLWithPath: bad))
        func message(_ path: String) -> String {
            do { _ = try ModelFile.load(path: path); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(cut).contains("outside the file"), message(cut))
        XCTAssertTrue(message(old).contains("version 9"), message(old))
        XCTAssertTrue(message(bad).contains("bad magic"), message(bad))
        XCTAssertFalse(ModelFile.isModelFile(bad))
    }
}
