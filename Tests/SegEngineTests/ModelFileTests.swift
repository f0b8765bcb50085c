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

        // Fields of the header and of the table's first entry set to absurd values: each is an
        // error, never an overflow trap. The entry: name length u16, name, dtype u8, rank u8,
        // shape i64 x rank, data offset u64, data size u64 (docs/MODEL_FILE.md).
        let nameLength = Int(bytes[32]) | Int(bytes[33]) << 8
        let dtypeAt = 34 + nameLength, rank = Int(bytes[dtypeAt + 1]), shapeAt = dtypeAt + 2
        let offsetAt = shapeAt + 8 * rank, sizeAt = offsetAt + 8
        func little(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        let firstOffset = bytes[offsetAt..<(offsetAt + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let cases: [(what: String, at: Int, value: [UInt8], says: String)] = [
            ("table offset", 16, little(UInt64.max - 7), "damaged model file"),
            ("data offset", offsetAt, little(UInt64.max - 63), "damaged model file"),
            ("data size", sizeAt, little(UInt64.max), "damaged model file"),
            ("a dimension", shapeAt, little(1 << 62), "damaged model file"),
            ("the rank", dtypeAt + 1, [200], "rank 200"),
            ("an offset off its alignment", offsetAt, little(firstOffset + 1), "alignment"),
        ]
        let damaged = tempPath("damaged.medseg")
        defer { try? FileManager.default.removeItem(atPath: damaged) }
        for c in cases {
            var d = bytes
            d.replaceSubrange(c.at..<(c.at + c.value.count), with: c.value)
            try d.write(to: URL(fileURLWithPath: damaged))
            XCTAssertTrue(message(damaged).contains(c.says), "\(c.what): \(message(damaged))")
        }
    }
}
