import XCTest
@testable import SegEngine

/// The Swift LiteMedSAM against the PyTorch model, stage by stage, on real MR slices.
final class ModelTests: XCTestCase {
    /// The encoder input the official script builds from the (cv2-resized) uint8 image.
    static func encoderInput(resized: [UInt8], height: Int, width: Int) -> Tensor {
        let lo = Float(resized.min()!), hi = Float(resized.max()!)
        let scale = 1 / max(hi - lo, 1e-8)
        var t = Tensor(zeros: [256, 256, 3])
        for y in 0..<height { for x in 0..<width {
            let v = (Float(resized[y * width + x]) - lo) * scale
            for c in 0..<3 { t.data[(y * 256 + x) * 3 + c] = v }
        } }
        return t
    }

    func testEncoderStagesLogitsAndMasksMatchPyTorch() throws {
        let model = try ModelFixtures.model()
        let cases = try ModelFixtures.manifest["cases"] as! [[String: Any]]
        for c in cases where c["name"] as! String != "rgb_wide" {  // rgb_wide's resize is covered by the pipeline tests
            let name = c["name"] as! String
            let rs = c["resized_shape"] as! [Int]
            let input = Self.encoderInput(resized: try ModelFixtures.bytes(c["resized"] as! String), height: rs[0], width: rs[1])
            let stages = model.imageEncoder.run(input, keepStages: true)
            let ref = c["stages"] as! [String: [String: Any]]
            let ours: [(String, Tensor)] = [("patch_embed", stages.patchEmbed)]
                + stages.layers.enumerated().map { ("layers.\($0.offset)", $0.element) } + [("embedding", stages.embedding)]
            for (key, t) in ours {
                let s = try SampledTensor(ref[key]!)
                XCTAssertEqual(t.shape, s.shape, "\(name) \(key)")
                XCTAssertLessThan(s.normalisedMSE(t), 1e-6, "\(name) \(key): normalised MSE")
            }
            let ctx = model.maskDecoder.context(for: stages.embedding)
            let boxes = (c["boxes256"] as! [[Double]]).map { $0.map(Float.init) }
            let logits = model.decode(ctx, boxes: boxes)
            for (i, l) in (c["logits"] as! [[String: Any]]).enumerated() {
                let s = try SampledTensor(l)
                let mine = Tensor(shape: [256, 256, 1], data: Array(logits.data[(i * 65536)..<((i + 1) * 65536)]))
                XCTAssertLessThan(s.normalisedMSE(mine), 1e-5, "\(name) box \(i): logits normalised MSE")
                // Decoding each box alone gives the same logits as the batch.
                let single = model.decode(ctx, boxes: [boxes[i]])
                XCTAssertLessThan(relativeError(single.data, mine.data), 1e-4)
            }
        }
    }

    /// Logits computed only inside the resized image (`within`) equal those of the whole
    /// 256x256 there (up to the last bits of products given fewer rows), and are -infinity
    /// outside; both a cut of whole columns and rows and one inside a 4x4 block.
    func testDecodingWithinTheResizedImageKeepsItsLogits() throws {
        for precision in [Precision.fp32, .int8] {
            let model = try ModelFixtures.model(precision)
            var g = SplitMix(seed: 3)
            let embedding = Tensor(shape: [64, 64, 256], data: (0..<(64 * 64 * 256)).map { _ in g.normal() })
            let ctx = model.maskDecoder.context(for: embedding)
            let boxes: [[Float]] = [[20, 30, 150, 120], [5, 5, 60, 200]]
            let full = model.decode(ctx, boxes: boxes)
            for (h, w) in [(256, 214), (181, 256), (97, 131)] {
                let part = model.decode(ctx, boxes: boxes, within: (h, w))
                let (oh, ow) = ((h + 3) / 4 * 4, (w + 3) / 4 * 4)
                var inside: [(Float, Float)] = [], outside = 0
                for b in 0..<2 { for y in 0..<256 { for x in 0..<256 {
                    let i = b * 65536 + y * 256 + x
                    if y < oh && x < ow { inside.append((full.data[i], part.data[i])) } else if part.data[i] == -.infinity { outside += 1 }
                } } }
                XCTAssertEqual(outside, 2 * (65536 - oh * ow), "\(precision) \(h)x\(w): logits outside")
                let scale = inside.map { abs($0.0) }.max()!, worst = inside.map { abs($0.0 - $0.1) }.max()!
                XCTAssertLessThan(worst, 1e-5 * scale, "\(precision) \(h)x\(w): largest difference \(worst), logits up to \(scale)")
            }
        }
    }

    func testStrictLoadingNamesTheKeyAndBothShapes() throws {
        let c = try Checkpoint.load(path: try ModelFixtures.modelPath())
        var t = c.tensors
        let key = "mask_decoder.iou_token.weight"
        t[key] = TensorData(shape: [1, 255], values: [Float](repeating: 0, count: 255))
        XCTAssertThrowsError(try LiteMedSAM(tensors: t, order: c.order)) { e in
            XCTAssertEqual("\(e)", "weight '\(key)' has shape [1, 255], expected [1, 256]")
        }
        t = c.tensors
        t.removeValue(forKey: key)
        XCTAssertThrowsError(try LiteMedSAM(tensors: t, order: c.order.filter { $0 != key })) { e in
            XCTAssertEqual("\(e)", "missing weight '\(key)' (expected shape [1, 256])")
        }
        t = c.tensors
        t["extra.weight"] = TensorData(shape: [2], values: [1, 2])
        XCTAssertThrowsError(try LiteMedSAM(tensors: t, order: c.order + ["extra.weight"])) { e in
            XCTAssertEqual("\(e)", "unknown weight in checkpoint: 'extra.weight' [2]")
        }
    }
}

/// The band-fused MBConv and PatchMerging against their unfused op chains, on odd map sizes
/// (border rows, stride 2 with an odd height).
final class ConvBlockFusionTests: XCTestCase {
    func testFusedConvBlocksMatchTheUnfusedChains() throws {
        let model = try ModelFixtures.model()
        var g = SplitMix(seed: 11)
        for (h, w) in [(37, 29), (8, 5), (1, 3)] {
            let x = Tensor(shape: [h, w, 64], data: (0..<(h * w * 64)).map { _ in Float(g.next() % 2001) / 1000 - 1 })
            for (fused, plain) in [(model.imageEncoder.layer0.blocks[0](x), model.imageEncoder.layer0.blocks[0].unfused(x)),
                                   (model.imageEncoder.layer0.downsample(x), model.imageEncoder.layer0.downsample.unfused(x))] {
                XCTAssertEqual(fused.shape, plain.shape)
                let scale = plain.data.map { abs($0) }.max()!
                for i in plain.data.indices { XCTAssertEqual(fused.data[i], plain.data[i], accuracy: 1e-5 * scale, "\(h)x\(w) at \(i)") }
            }
        }
    }

    /// In the int8 model stage 0 runs in bf16 where the CPU has it; the fused MBConv then rounds
    /// the depthwise GELU straight to bf16 (the shorter GELU), the unfused chain takes the exact
    /// GELU and rounds in the product, so a few inputs land one bf16 step apart.
    func testFusedLowPrecisionConvBlocksMatchTheUnfusedChains() throws {
        let model = try ModelFixtures.int8Model()
        var g = SplitMix(seed: 12)
        for (h, w) in [(37, 29), (8, 5)] {
            let x = Tensor(shape: [h, w, 64], data: (0..<(h * w * 64)).map { _ in Float(g.next() % 2001) / 1000 - 1 })
            for (fused, plain) in [(model.imageEncoder.layer0.blocks[0](x), model.imageEncoder.layer0.blocks[0].unfused(x)),
                                   (model.imageEncoder.layer0.downsample(x), model.imageEncoder.layer0.downsample.unfused(x))] {
                XCTAssertEqual(fused.shape, plain.shape)
                var se = 0.0, ss = 0.0, worst: Float = 0
                for i in plain.data.indices {
                    let d = fused.data[i] - plain.data[i]
                    se += Double(d * d); ss += Double(plain.data[i] * plain.data[i]); worst = max(worst, abs(d))
                }
                let scale = plain.data.map { abs($0) }.max()!
                // Measured: relative MSE up to 1e-8, worst 7e-4 of the scale; a wrong row or
                // channel would give errors of the order of the values themselves.
                XCTAssertLessThan(se / ss, 1e-6, "\(h)x\(w)")
                XCTAssertLessThan(worst, 4e-3 * scale, "\(h)x\(w)")
            }
        }
    }
}
