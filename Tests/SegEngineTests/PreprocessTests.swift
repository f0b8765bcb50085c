// Pre- and post-processing against golden outputs of cv2 / numpy / torch
// (Fixtures/prep, written by tools/fixtures/make_prep_fixtures.py).
// Tolerances: resize 0 differing bytes; preprocess tensor 1e-6; upsampled logits 1e-4;
// masks exact except where |logit| < 1e-4.
// MEDSEG_PREP_BROAD=<dir> additionally runs a large random set made with `--broad <dir>`.

import Foundation
import XCTest
@testable import SegEngine

final class PreprocessTests: XCTestCase {

    // MARK: - generators mirrored from the fixture script

    static func hashBytes(seed: Int, count n: Int) -> [UInt8] {
        let s = UInt32(truncatingIfNeeded: UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9)
        var out = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            var x = UInt32(truncatingIfNeeded: i) &+ s
            x = x &* 0x85EB_CA6B
            x ^= x >> 13
            x = x &* 0xC2B2_AE35
            x ^= x >> 16
            out[i] = UInt8(x >> 24)
        }
        return out
    }

    static func genImage(height h: Int, width w: Int, channels c: Int, seed: Int, mode: Int) -> ImageU8 {
        var b = hashBytes(seed: seed, count: h * w * c)
        for y in 0..<h {
            for x in 0..<w {
                for k in 0..<c {
                    let i = (y * w + x) * c + k
                    let v = Int(b[i])
                    switch mode {
                    case 0: break
                    case 1: b[i] = UInt8((v & 1) * 255)
                    case 2: b[i] = UInt8((x * 3 + y * 5 + (v & 7)) & 255)
                    default: b[i] = UInt8(seed % 7 + (v & 1))
                    }
                }
            }
        }
        return ImageU8(height: h, width: w, channels: c, pixels: b)
    }

    static func genLogits(n: Int, cy: Int, cx: Int, r: Int, seed: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n * n)
        for y in 0..<n {
            for x in 0..<n {
                let noise = ((x * 7919 + y * 104729 + seed * 31337) % 97) - 48
                let v = (x - cx) * (x - cx) + (y - cy) * (y - cy) - r * r + noise
                out[y * n + x] = Float(v) / 256
            }
        }
        return out
    }

    // MARK: - fixture reading

    struct Fixtures {
        let dir: URL
        let cases: [[String: Any]]

        init(dir: URL) throws {
            self.dir = dir
            let data = try Data(contentsOf: dir.appendingPathComponent("manifest.json"))
            let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            cases = obj["cases"] as! [[String: Any]]
        }

        func blob(_ spec: Any?) throws -> Data {
            let d = spec as! [String: Any]
            return try Data(contentsOf: dir.appendingPathComponent(d["file"] as! String))
        }
        func u8(_ spec: Any?) throws -> [UInt8] { [UInt8](try blob(spec)) }
        func i32(_ spec: Any?) throws -> [Int32] {
            let d = try blob(spec)
            return d.withUnsafeBytes { raw in (0..<(d.count / 4)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) } }
        }
        func f32(_ spec: Any?) throws -> [Float] {
            let d = try blob(spec)
            return d.withUnsafeBytes { raw in (0..<(d.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        }
    }

    static func committedFixtures() throws -> Fixtures {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw XCTSkip("Fixtures resource missing")
        }
        return try Fixtures(dir: url.appendingPathComponent("prep"))
    }

    // MARK: - checks shared by the committed and the broad set

    func checkAll(_ fx: Fixtures, file: StaticString = #filePath, line: UInt = #line) throws {
        var counts = [String: Int]()
        for c in fx.cases {
            let kind = c["kind"] as! String
            let name = c["name"] as! String
            counts[kind, default: 0] += 1
            switch kind {
            case "resize":
                let img = Self.genImage(height: c["height"] as! Int, width: c["width"] as! Int,
                                        channels: c["channels"] as! Int, seed: c["seed"] as! Int, mode: c["mode"] as! Int)
                let out = Resize.area(img, toHeight: c["toHeight"] as! Int, width: c["toWidth"] as! Int)
                let want = try fx.u8(c["expected"])
                XCTAssertEqual(out.pixels.count, want.count, "\(name): size", file: file, line: line)
                let diff = zip(out.pixels, want).filter { $0 != $1 }.count
                XCTAssertEqual(diff, 0, "\(name): \(diff) differing bytes (\(img.height)x\(img.width)x\(img.channels) -> \(out.height)x\(out.width))", file: file, line: line)
            case "preprocess":
                let img = Self.genImage(height: c["height"] as! Int, width: c["width"] as! Int,
                                        channels: c["channels"] as! Int, seed: c["seed"] as! Int, mode: c["mode"] as! Int)
                let pre = Preprocess.image(img)
                XCTAssertEqual(pre.newHeight, c["newHeight"] as? Int, "\(name): newHeight", file: file, line: line)
                XCTAssertEqual(pre.newWidth, c["newWidth"] as? Int, "\(name): newWidth", file: file, line: line)
                XCTAssertEqual(pre.tensor.count, 256 * 256 * 3)
                let idx = try fx.i32(c["indices"]), vals = try fx.f32(c["values"])
                var worst: Float = 0
                for (i, v) in zip(idx, vals) { worst = max(worst, abs(pre.tensor[Int(i)] - v)) }
                XCTAssertLessThanOrEqual(worst, 1e-6, "\(name): max |diff| \(worst)", file: file, line: line)
            case "postprocess":
                let h = c["height"] as! Int, w = c["width"] as! Int
                let nh = c["newHeight"] as! Int, nw = c["newWidth"] as! Int
                XCTAssertTrue(Preprocess.resizedSize(height: h, width: w) == (nh, nw), "\(name): new size", file: file, line: line)
                let logits = Self.genLogits(n: 256, cy: c["cy"] as! Int, cx: c["cx"] as! Int, r: c["r"] as! Int, seed: c["seed"] as! Int)
                let pre = Preprocessed(tensor: [], newHeight: nh, newWidth: nw, originalHeight: h, originalWidth: w)
                let up = Postprocess.upsampledLogits(logits: logits, pre: pre)
                let mask = Postprocess.mask(logits: logits, pre: pre)
                let idx = try fx.i32(c["indices"]), vals = try fx.f32(c["values"]), wantMask = try fx.u8(c["mask"])
                var worst: Float = 0, badMask = 0
                for (k, i) in idx.enumerated() {
                    let v = up[Int(i)]
                    worst = max(worst, abs(v - vals[k]))
                    if mask[Int(i)] != wantMask[k] && abs(vals[k]) >= 1e-4 { badMask += 1 }
                }
                XCTAssertLessThanOrEqual(worst, 1e-4, "\(name): max |logit diff| \(worst)", file: file, line: line)
                XCTAssertEqual(badMask, 0, "\(name): mask mismatches away from 0", file: file, line: line)
            case "box":
                for row in c["boxes"] as! [[String: Any]] {
                    let got = Preprocess.box(row["box"] as! [Double], originalHeight: row["height"] as! Int,
                                             originalWidth: row["width"] as! Int)
                    let want = (row["expected"] as! [Double]).map { Float($0) }
                    XCTAssertEqual(got, want, "\(name): box \(row["box"]!) in \(row["height"]!)x\(row["width"]!)", file: file, line: line)
                }
            default:
                XCTFail("unknown fixture kind \(kind)")
            }
        }
        XCTAssertGreaterThan(counts["resize"] ?? 0, 0)
    }

    // MARK: - tests

    func testAgainstCommittedFixtures() throws {
        try checkAll(try Self.committedFixtures())
    }

    func testAgainstBroadSetIfPresent() throws {
        guard let dir = ProcessInfo.processInfo.environment["MEDSEG_PREP_BROAD"] else {
            throw XCTSkip("set MEDSEG_PREP_BROAD to a directory made by make_prep_fixtures.py --broad")
        }
        try checkAll(try Fixtures(dir: URL(fileURLWithPath: dir)))
    }

    /// Gray resized once then copied equals the 3-channel resize of the copied image (what the official
    /// 3D path does), on every OpenCV path.
    func testGrayEqualsRepeatedThreeChannel() {
        let sizes: [(Int, Int, Int, Int)] = [(64, 48, 32, 24), (97, 61, 40, 33), (21, 17, 50, 40),
                                             (20, 120, 50, 45), (600, 100, 256, 43), (30, 60, 15, 20)]
        for (h, w, dh, dw) in sizes {
            let g = Self.genImage(height: h, width: w, channels: 1, seed: h * w, mode: 0)
            var rgb = [UInt8](); rgb.reserveCapacity(g.pixels.count * 3)
            for v in g.pixels { rgb += [v, v, v] }
            let c3 = Resize.area(ImageU8(height: h, width: w, channels: 3, pixels: rgb), toHeight: dh, width: dw)
            let c1 = Resize.area(g, toHeight: dh, width: dw)
            for i in 0..<c1.pixels.count {
                XCTAssertTrue(c3.pixels[3 * i] == c1.pixels[i] && c3.pixels[3 * i + 1] == c1.pixels[i]
                              && c3.pixels[3 * i + 2] == c1.pixels[i], "\(h)x\(w)->\(dh)x\(dw) at \(i)")
                if c3.pixels[3 * i] != c1.pixels[i] { break }
            }
            let p1 = Preprocess.image(g), p3 = Preprocess.image(ImageU8(height: h, width: w, channels: 3, pixels: rgb))
            XCTAssertEqual(p1.tensor, p3.tensor)
        }
    }

    func testPaddingAndRange() {
        let img = Self.genImage(height: 100, width: 300, channels: 3, seed: 3, mode: 0)
        let pre = Preprocess.image(img)
        XCTAssertEqual(pre.newHeight, 85); XCTAssertEqual(pre.newWidth, 256)
        XCTAssertEqual(pre.tensor.min(), 0); XCTAssertEqual(pre.tensor.max(), 1)
        for y in 85..<256 { for x in 0..<256 { for c in 0..<3 { XCTAssertEqual(pre.tensor[(y * 256 + x) * 3 + c], 0) } } }
        let flat = Preprocess.image(ImageU8(height: 10, width: 10, channels: 1, pixels: .init(repeating: 77, count: 100)))
        XCTAssertTrue(flat.tensor.allSatisfy { $0 == 0 })
    }

    /// Fast separable upsample equals its plain per-pixel twin exactly.
    func testBilinearFastEqualsReference() {
        let logits = Self.genLogits(n: 256, cy: 100, cx: 90, r: 60, seed: 9)
        for (nh, nw, oh, ow) in [(256, 213, 300, 250), (43, 256, 100, 600), (256, 256, 256, 256), (200, 100, 37, 512), (1, 256, 3, 700)] {
            let fast = logits.withUnsafeBufferPointer {
                Postprocess.bilinear($0.baseAddress!, height: nh, width: nw, rowStride: 256, toHeight: oh, toWidth: ow)
            }
            let ref = Postprocess.bilinearReference(logits, height: nh, width: nw, rowStride: 256, toHeight: oh, toWidth: ow)
            XCTAssertEqual(fast, ref, "\(nh)x\(nw)->\(oh)x\(ow)")
        }
    }

    func testSigmoidThreshold() {
        XCTAssertFalse(Postprocess.isForeground(0))
        XCTAssertFalse(Postprocess.isForeground(-1e-9))
        XCTAssertFalse(Postprocess.isForeground(1e-9))     // float32 sigmoid(1e-9) == 0.5
        XCTAssertTrue(Postprocess.isForeground(1e-5))
        XCTAssertTrue(Postprocess.isForeground(3))
        XCTAssertFalse(Postprocess.isForeground(.nan))
    }

    /// Timings (reported, asserted only loosely): run with `-c release` for meaningful numbers.
    func testTimings() {
        func ms(_ n: Int, _ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<n {
                let t = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            return best
        }
        let a = Self.genImage(height: 512, width: 512, channels: 3, seed: 1, mode: 0)
        let b = Self.genImage(height: 512, width: 400, channels: 3, seed: 2, mode: 0)
        let c = Self.genImage(height: 200, width: 180, channels: 3, seed: 3, mode: 0)
        let g = Self.genImage(height: 512, width: 512, channels: 1, seed: 4, mode: 0)
        let logits = Self.genLogits(n: 256, cy: 128, cx: 128, r: 60, seed: 1)
        let pre = Preprocessed(tensor: [], newHeight: 256, newWidth: 256, originalHeight: 512, originalWidth: 512)
        let t1 = ms(20) { _ = Resize.area(a, toHeight: 256, width: 256) }
        let t2 = ms(20) { _ = Resize.area(b, toHeight: 256, width: 200) }
        let t3 = ms(20) { _ = Resize.area(c, toHeight: 256, width: 230) }
        let t4 = ms(20) { _ = Preprocess.image(a) }
        let t5 = ms(20) { _ = Preprocess.image(g) }
        let t6 = ms(20) { _ = Postprocess.upsampledLogits(logits: logits, pre: pre) }
        let t7 = ms(20) { _ = Postprocess.mask(logits: logits, pre: pre) }
        print(String(format: "prep timings (ms, best of 20): resize 512x512x3->256 %.3f, 512x400x3->256x200 %.3f, "
                     + "200x180x3->256x230 %.3f, preprocess 512x512x3 %.3f, preprocess 512x512 gray %.3f, "
                     + "upsample 256->512 %.3f, mask 256->512 %.3f", t1, t2, t3, t4, t5, t6, t7))
    }
}
