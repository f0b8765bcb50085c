import Foundation
import XCTest
@testable import SegEngine
import Volumes

/// The whole pipeline (pre-processing, encoder, decoder, post-processing, 3D propagation)
/// against the PyTorch model run with the official protocol (tools/fixtures/make_model_fixtures.py).
final class PipelineTests: XCTestCase {
    func testMasksFromRawImagesMatchPyTorch() throws {
        let seg = Segmenter(model: try ModelFixtures.model(), maxBatch: 2)
        for c in try ModelFixtures.manifest["cases"] as! [[String: Any]] {
            let name = c["name"] as! String, shape = c["image_shape"] as! [Int]
            let img = ImageU8(height: shape[0], width: shape[1], channels: shape.count == 3 ? shape[2] : 1,
                              pixels: try ModelFixtures.bytes(c["image"] as! String))
            let boxes = (c["boxes"] as! [[Int]]).map { $0.map(Double.init) }
            // Box scaling as the official script.
            XCTAssertEqual(boxes.map { Preprocess.box($0, originalHeight: img.height, originalWidth: img.width) },
                           (c["boxes256"] as! [[Double]]).map { $0.map(Float.init) }, name)
            let masks = seg.segment(img, boxes: boxes)
            for (i, m) in (c["masks"] as! [[String: Any]]).enumerated() {
                let want = try ModelFixtures.bits(m["bits"] as! String, count: img.height * img.width)
                XCTAssertGreaterThanOrEqual(maskDice(masks[i], want), 0.999, "\(name) box \(i)")
            }
        }
    }

    func testPropagationOnTheDemoMRMatchesPyTorch() throws {
        let v = try ModelFixtures.manifest["volume"] as! [String: Any]
        let (raw, ny, nx) = try ModelFixtures.demoMR()
        let range = v["slices"] as! [Int], box = v["box"] as! [Int]
        let depth = range[1] - range[0] + 1
        let seg = Segmenter(model: try ModelFixtures.model())
        let labels = seg.segment3D(depth: depth, height: ny, width: nx, slice: { z in
            let off = (range[0] + z) * ny * nx
            return ImageU8(height: ny, width: nx, channels: 1, pixels: Array(raw[off..<(off + ny * nx)]))
        }, boxes: [StackBox(box: [Double(box[0]), Double(box[1]), Double(box[3]), Double(box[4])], z0: box[2], z1: box[5])],
           strategy: .propagate)
        let want = try ModelFixtures.bits(v["segs"] as! String, count: depth * ny * nx)
        XCTAssertEqual(v["area"] as! Int, want.reduce(0) { $0 + Int($1) })
        XCTAssertGreaterThanOrEqual(maskDice(labels.map { $0 != 0 ? 1 : 0 }, want), 0.999)
        // Every slice of the range was encoded exactly once (cached across the two directions).
        XCTAssertEqual(seg.slicesEncoded, box[5] - box[2] + 1)
    }

    func testPerSliceBatchesEveryBoxOfASliceAndLaterBoxesWin() throws {
        let seg = Segmenter(model: try ModelFixtures.model())
        let c = (try ModelFixtures.manifest["cases"] as! [[String: Any]])[0]
        let shape = c["image_shape"] as! [Int]
        let img = ImageU8(height: shape[0], width: shape[1], channels: 1, pixels: try ModelFixtures.bytes(c["image"] as! String))
        let b = (c["boxes"] as! [[Int]]).map { $0.map(Double.init) }
        let labels = seg.segment3D(depth: 3, height: img.height, width: img.width, slice: { _ in img },
                                   boxes: [StackBox(box: b[0], z0: 0, z1: 2), StackBox(box: b[0], z0: 1, z1: 1), StackBox(box: b[1], z0: -5, z1: 0)],
                                   strategy: .perSlice)
        let plane = img.height * img.width
        let m0 = try ModelFixtures.bits((c["masks"] as! [[String: Any]])[0]["bits"] as! String, count: plane)
        // Slice 2: only box 1. Slice 1: box 2 (same box) overwrites box 1 everywhere it is set.
        XCTAssertGreaterThanOrEqual(maskDice(labels[(2 * plane)..<(3 * plane)].map { $0 == 1 ? 1 : 0 }, m0), 0.999)
        XCTAssertFalse(labels[plane..<(2 * plane)].contains(1))
        XCTAssertTrue(labels[0..<plane].contains(3))
        XCTAssertEqual(seg.slicesEncoded, 3)
    }

    /// By default each box is decoded alone, so a box's mask does not depend on the boxes
    /// decoded with it: `segment` with many boxes gives, to the pixel, the masks the workbench
    /// makes one box at a time (a batch's products round differently from a single box's).
    func testDefaultMasksDoNotDependOnTheOtherBoxes() throws {
        var g = SplitMix(seed: 11)
        for z in [70, 95] {
            let img = try ModelFixtures.demoSlice(z)
            let (ny, nx) = (img.height, img.width)
            let boxes: [PixelBox] = (0..<24).map { _ in
                let (x, y) = (20 + Double(g.next() % UInt64(nx - 80)), 20 + Double(g.next() % UInt64(ny - 80)))
                return [x, y, x + 12 + Double(g.next() % 40), y + 12 + Double(g.next() % 40)]
            }
            let seg = Segmenter(model: try ModelFixtures.int8Model())
            let together = seg.segment(img, boxes: boxes, key: z)
            for (i, b) in boxes.enumerated() {
                let alone = seg.segment(img, boxes: [b], key: z)[0]
                XCTAssertEqual(zip(together[i], alone).filter { $0 != $1 }.count, 0, "slice \(z) box \(i) \(b): pixels that differ")
            }
        }
    }

    /// The int8 engine keeps slice embeddings in half precision (2 MB a slice in the cache);
    /// the fp32 engine keeps them exact.
    func testInt8SlicesAreKeptInHalfPrecisionAndFp32SlicesExactly() throws {
        let c = (try ModelFixtures.manifest["cases"] as! [[String: Any]])[0]
        let shape = c["image_shape"] as! [Int]
        let img = ImageU8(height: shape[0], width: shape[1], channels: 1, pixels: try ModelFixtures.bytes(c["image"] as! String))
        let pre = Tensor(shape: [256, 256, 3], data: Preprocess.image(img).tensor)
        for (model, compact) in [(try ModelFixtures.int8Model(), true), (try ModelFixtures.model(), false)] {
            let seg = Segmenter(model: model)
            let slice = seg.encode(img, key: 7)
            let exact = model.embed(pre)
            XCTAssertEqual(slice.isCompact, compact)
            XCTAssertEqual(slice.bytes, 64 * 64 * 256 * (compact ? 2 : 4))
            XCTAssertEqual(seg.cache.usedBytes, slice.bytes)
            let want = compact ? exact.data.map { Float(Float16($0)) } : exact.data
            XCTAssertEqual(zip(slice.embedding.data, want).filter { $0.bitPattern != $1.bitPattern }.count, 0)
            XCTAssertGreaterThan(zip(slice.embedding.data, exact.data).filter { $0 != $1 }.count, compact ? 100_000 : -1)
        }
    }
}
