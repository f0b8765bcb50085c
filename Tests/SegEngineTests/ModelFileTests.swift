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
        let fromFile = try LiteMedSAM(checkpointPath: out, precision: .int8)
        var g = SplitMix(21)
        let image = Tensor(shape: [256, 256, 3], data: (0..<(256 * 256 * 3)).map { _ in Float(g.next() % 1000) / 1000 })
        // Equal up to float products' last bits, which depend on buffer alignment (an exact
        // match in a process of its own; in the full suite a last-bit change can flip an int8
        // activation code, so the int8 bound allows for that; int8 against fp32 is ~2.5e-3).
        func nmse(_ a: Tensor, _ b: Tensor) -> Double {
            var se = 0.0, ss = 0.0
            for i in a.data.indices { let d = Double(a.data[i] - b.data[i]); se += d * d; ss += Double(b.data[i] * b.data[i]) }
            return se / ss
        }
        XCTAssertLessThan(nmse(fromFile.embed(image), try ModelFixtures.int8Model().embed(image)), 1e-4)
        // The float tensors are all there too: fp32 from the file is the fp32 model.
        let fp32 = try LiteMedSAM(checkpointPath: out, precision: .fp32)
        XCTAssertLessThan(nmse(fp32.embed(image), try ModelFixtures.model().embed(image)), 1e-10)
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
