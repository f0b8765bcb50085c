import XCTest
@testable import SegEngine

/// The stem's lookup of per-pixel layers (`PixelLevels`): the table of distinct pixels by
/// hand-worked cases, and the encoder with the lookup against the encoder computing every pixel.
final class PixelLevelsTests: XCTestCase {
    func testDistinctPixelsInOrderOfFirstAppearance() throws {
        // Four pixels of three channels: the first and the last are equal; -0 differs from 0 in
        // its bits and is kept apart (the lookup must give exactly what computing would).
        let image = Tensor(shape: [2, 2, 3], data: [0.5, 0.5, 0.5,  0, 0, 0,  -0.0, 0, 0,  0.5, 0.5, 0.5])
        let levels = try XCTUnwrap(PixelLevels(of: image))
        XCTAssertEqual(levels.count, 3)
        XCTAssertEqual(levels.index, [0, 1, 2, 0])
        XCTAssertEqual(levels.levels.data.map(\.bitPattern), [0.5, 0.5, 0.5, 0, 0, 0, -0.0, 0, 0].map { Float($0).bitPattern })
        let table = Tensor(shape: [3, 2], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(levels.expand(table, height: 2, width: 2).data, [1, 2, 3, 4, 5, 6, 1, 2])
        XCTAssertEqual(levels.expand(table, height: 2, width: 2).shape, [2, 2, 2])
    }

    func testTooManyDistinctPixelsGiveNoTable() {
        let ramp = Tensor(shape: [4, 4, 1], data: (0..<16).map { Float($0) })
        XCTAssertNil(PixelLevels(of: ramp, limit: 15))
        XCTAssertEqual(PixelLevels(of: ramp, limit: 16)?.count, 16)
        XCTAssertEqual(PixelLevels(of: ramp, limit: 16)?.index, (0..<16).map { Int32($0) })
    }

    /// A grayscale 256x256 image of 200 levels with no zero pixel (so only the lookup applies).
    static func grayImage() -> Tensor {
        var g = SplitMix(seed: 5)
        var t = Tensor(zeros: [256, 256, 3])
        for p in 0..<(256 * 256) {
            let v = Float(1 + g.next() % 200) / 200
            for c in 0..<3 { t.data[p * 3 + c] = v }
        }
        return t
    }

    /// Stage 0 with the lookup equals stage 0 computed pixel by pixel, up to the last bits that
    /// the products' kernels give rows depending on how many rows they are given.
    func testEncoderLookupMatchesComputingEveryPixel() throws {
        let image = Self.grayImage()
        XCTAssertEqual(PixelLevels(of: image)?.count, 200)
        XCTAssertFalse(UniformMap(zerosOf: image).uniform.contains(true))
        var precisions: [Precision] = [.fp32, .int8]
        if CPUFeatures.bf16 { precisions.append(.bf16) }
        for precision in precisions {
            let enc = try ModelFixtures.model(precision).imageEncoder
            let full = enc.run(image, keepStages: true, shortcuts: false), looked = enc.run(image, keepStages: true)
            for (name, a, b) in [("patch embedding", full.patchEmbed, looked.patchEmbed), ("stage 0", full.layers[0], looked.layers[0])] {
                XCTAssertEqual(a.shape, b.shape)
                let scale = a.data.map(abs).max()!, worst = zip(a.data, b.data).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-5 * scale, "\(precision) \(name): largest difference \(worst), values up to \(scale)")
            }
        }
    }
}
