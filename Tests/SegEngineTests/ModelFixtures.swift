import Foundation
import XCTest
@testable import SegEngine
import Volumes

/// Reference outputs of the PyTorch model, made by tools/fixtures/make_model_fixtures.py.
enum ModelFixtures {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/model")

    static var manifest: [String: Any] {
        get throws {
            let data = try Data(contentsOf: dir.appendingPathComponent("manifest.json"))
            return try JSONSerialization.jsonObject(with: data) as! [String: Any]
        }
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: dir.appendingPathComponent(name))) }

    static func floats(_ name: String) throws -> [Float] {
        let b = try bytes(name)
        return b.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func ints(_ name: String) throws -> [Int] {
        let b = try bytes(name)
        return b.withUnsafeBytes { $0.bindMemory(to: Int32.self).map { Int($0) } }
    }

    /// numpy.packbits order: most significant bit first.
    static func bits(_ name: String, count: Int) throws -> [UInt8] {
        let b = try bytes(name)
        return (0..<count).map { (b[$0 >> 3] >> (7 - UInt8($0 & 7))) & 1 }
    }

    /// Where scripts/setup.sh installs the model and the demo.
    static var dataHome: String {
        let env = ProcessInfo.processInfo.environment
        return env["MEDSEG_HOME"] ?? ((env["XDG_DATA_HOME"] ?? (NSHomeDirectory() + "/.local/share")) + "/medseg")
    }

    /// The installed demo MR (Colin27, [181, 217, 181] uint8), or a skip.
    static func demoMR() throws -> (voxels: [UInt8], height: Int, width: Int) {
        let path = dataHome + "/demo/ch2.nii.gz"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("demo not installed at \(path); run scripts/setup.sh") }
        let mr = try Nifti.read(path: path)
        return (try XCTUnwrap(mr.data.values(as: UInt8.self)), mr.data.shape[1], mr.data.shape[2])
    }

    /// Axial slice z of the demo MR, or a skip.
    static func demoSlice(_ z: Int) throws -> ImageU8 {
        let mr = try demoMR(), plane = mr.height * mr.width
        return ImageU8(height: mr.height, width: mr.width, channels: 1, pixels: Array(mr.voxels[(z * plane)..<((z + 1) * plane)]))
    }

    /// The installed checkpoint (scripts/setup.sh), or a skip naming what is missing.
    static func modelPath() throws -> String {
        let path = dataHome + "/models/lite_medsam.pth"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("checkpoint not installed at \(path); run scripts/setup.sh")
        }
        return path
    }

    /// The model of the installed checkpoint in `precision`, built once per test run.
    nonisolated(unsafe) static var cachedModels: [Precision: LiteMedSAM] = [:]
    static func model(_ precision: Precision = .fp32) throws -> LiteMedSAM {
        if let m = cachedModels[precision] { return m }
        let m = try LiteMedSAM(checkpointPath: try modelPath(), precision: precision)
        cachedModels[precision] = m
        return m
    }
    static func int8Model() throws -> LiteMedSAM { try model(.int8) }
    static func bf16Model() throws -> LiteMedSAM { try model(.bf16) }

    /// `model` on the PyTorch fixture cases: the DSC of each box's mask against PyTorch's, and
    /// each case's embedding NMSE against PyTorch's (rgb_wide's resize is covered elsewhere).
    static func againstPyTorch(_ model: LiteMedSAM) throws -> (dice: [(name: String, box: Int, dsc: Double)], nmse: [(name: String, value: Double)]) {
        let seg = Segmenter(model: model, maxBatch: 4)
        var dice: [(name: String, box: Int, dsc: Double)] = [], nmse: [(name: String, value: Double)] = []
        for c in try manifest["cases"] as! [[String: Any]] {
            let name = c["name"] as! String, shape = c["image_shape"] as! [Int]
            let img = ImageU8(height: shape[0], width: shape[1], channels: shape.count == 3 ? shape[2] : 1,
                              pixels: try bytes(c["image"] as! String))
            let masks = seg.segment(img, boxes: (c["boxes"] as! [[Int]]).map { $0.map(Double.init) })
            for (i, m) in (c["masks"] as! [[String: Any]]).enumerated() {
                dice.append((name, i, maskDice(masks[i], try bits(m["bits"] as! String, count: img.height * img.width))))
            }
            guard name != "rgb_wide" else { continue }
            let rs = c["resized_shape"] as! [Int]
            let input = ModelTests.encoderInput(resized: try bytes(c["resized"] as! String), height: rs[0], width: rs[1])
            let ref = try SampledTensor((c["stages"] as! [String: [String: Any]])["embedding"]!)
            nmse.append((name, ref.normalisedMSE(model.embed(input))))
        }
        return (dice, nmse)
    }
}

/// A sampled reference tensor: values at fixed flat indices of a channels-last array, plus stats.
struct SampledTensor {
    let shape: [Int]
    let indices: [Int]
    let values: [Float]
    let std: Double

    init(_ d: [String: Any]) throws {
        shape = d["shape"] as! [Int]
        indices = try ModelFixtures.ints(d["indices"] as! String)
        values = try ModelFixtures.floats(d["values"] as! String)
        std = d["std"] as! Double
    }

    /// Mean squared error over the samples divided by the reference's variance.
    func normalisedMSE(_ t: Tensor) -> Double {
        var se = 0.0
        for (i, idx) in indices.enumerated() {
            let d = Double(t.data[idx]) - Double(values[i])
            se += d * d
        }
        return se / Double(indices.count) / (std * std)
    }

    func maxAbsError(_ t: Tensor) -> Double {
        zip(indices, values).map { abs(Double(t.data[$0]) - Double($1)) }.max() ?? 0
    }
}

/// DSC of two binary masks (nonzero = inside); 1 when both are empty.
func maskDice(_ a: [UInt8], _ b: [UInt8]) -> Double {
    var inter = 0, sa = 0, sb = 0
    for i in a.indices { if a[i] != 0 { sa += 1 }; if b[i] != 0 { sb += 1 }; if a[i] != 0 && b[i] != 0 { inter += 1 } }
    return sa + sb == 0 ? 1 : 2 * Double(inter) / Double(sa + sb)
}
