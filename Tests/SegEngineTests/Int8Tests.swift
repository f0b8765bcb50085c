import Foundation
import XCTest
@testable import SegEngine
import Volumes

/// The int8 engine: its kernels against their plain integer twins, and its masks against the
/// PyTorch model's (tools/fixtures/make_model_fixtures.py), on the fixtures' real images.
final class Int8Tests: XCTestCase {
    func randomTensor(rows: Int, cols: Int, seed: UInt64) -> Tensor {
        var g = SplitMix(seed: seed)
        // Rows with different ranges and offsets, some all-positive (as after GELU), one all zero.
        let data = (0..<(rows * cols)).map { i -> Float in
            let r = i / cols
            if r == 3 { return 0 }
            let spread = Float(1 + r % 5), shift: Float = r % 3 == 0 ? 2 : 0
            return (Float(g.next() % 20001) / 10000 - 1) * spread + shift
        }
        return Tensor(shape: [rows, cols], data: data)
    }

    func testInt8WeightsRoundTripPerOutputChannel() {
        let w: [Float] = [0.5, -1, 0.25, 0, 0, 0, 3, 2, -1]
        let q = Int8Weights(weight: w, outFeatures: 3, inFeatures: 3)
        // Hand-worked: row 0 max |w| 1 -> scale 1/127; codes 63.5 -> 64 (even), -127, 31.75 -> 32.
        XCTAssertEqual(Array(q.values[0..<3]), [64, -127, 32])
        XCTAssertEqual(q.scales[0], 1 / 127, accuracy: 1e-9)
        XCTAssertEqual(Array(q.values[3..<6]), [0, 0, 0])
        XCTAssertEqual(q.scales[1], 1)
        XCTAssertEqual(Array(q.values[6..<9]), [127, 85, -42])
        XCTAssertEqual(q.columnSums, [-31, 0, 170])
    }

    func testQuantizeRowsMatchesHandWorkedCodes() {
        // Row [-1, 0, 0.5, 3]: range [-1, 3], scale 4/top, zero round(top/4).
        let top = Int8Gemm.activationMax
        let x: [Float] = [-1, 0, 0.5, 3]
        var codes = [UInt8](repeating: 0, count: 4), s: Float = 0, z: Float = 0
        Int8Gemm.quantizeRows(x, count: 1, k: 4, ldx: 4, codes: &codes, scales: &s, zeros: &z)
        XCTAssertEqual(s, 4 / top)
        XCTAssertEqual(z, (top / 4).rounded(.toNearestOrEven))
        let want = x.map { UInt8(max(0, min(top, ($0 * (1 / (4 / top)) + z).rounded(.toNearestOrEven)))) }
        XCTAssertEqual(codes, want)
        XCTAssertEqual(codes[1], UInt8(z), "zero maps exactly onto the zero point")
    }

    /// Quantizing the LayerNorm of a row in one go (the norm folded into the codes) against
    /// quantizing the normalised row: the same scales and zero points, codes within one step.
    /// For the plain norm and for a bias-free one with per-channel weights (some zero).
    func testQuantizingNormalizedRowsMatchesQuantizingTheNormOutput() {
        let rows = 12, k = 133   // not a multiple of 8: the scalar tails too
        let x = randomTensor(rows: rows, cols: k, seed: 17)
        var g = SplitMix(seed: 3)
        let weights: [[Float]] = [[Float](repeating: 1, count: k),
                                  (0..<k).map { $0 % 17 == 5 ? 0 : Float(g.next() % 3000) / 1000 + 0.01 }]
        for w in weights {
            let norm = LayerNorm(weight: w, bias: [Float](repeating: 0, count: k), eps: 1e-5)
            XCTAssertTrue(norm.biasFree)
            let normalised = norm.reference(x)
            var fused = [UInt8](repeating: 0, count: rows * k), plain = fused
            var fs = [Float](repeating: 0, count: rows), fz = fs, ps = fs, pz = fs
            Int8Gemm.quantizeNormalizedRows(x.data, count: rows, k: k, eps: norm.eps, weight: w,
                                            codes: &fused, scales: &fs, zeros: &fz)
            Int8Gemm.quantizeRows(normalised.data, count: rows, k: k, ldx: k, codes: &plain, scales: &ps, zeros: &pz)
            for r in 0..<rows {
                XCTAssertEqual(fs[r], ps[r], accuracy: 1e-5 * ps[r], "row \(r) scale")
                XCTAssertEqual(fz[r], pz[r], "row \(r) zero point")
            }
            let off = zip(fused, plain).filter { $0 != $1 }
            XCTAssertTrue(off.allSatisfy { abs(Int($0) - Int($1)) == 1 })
            XCTAssertLessThan(off.count, rows * k / 100)
        }
    }

    /// Folding a LayerNorm (weights of both signs and a zero, a bias) into the next int8 layer
    /// keeps the float function: lin'(norm'(x)) = lin(norm(x)), with norm' bias-free and
    /// |weight|, and lin' the original with signs flipped where the norm's weight is negative.
    func testFoldingTheNormKeepsTheFunctionAndTheMagnitudes() {
        let k = 40, n = 24
        var g = SplitMix(seed: 8)
        func random(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in (Float(g.next() % 20001) / 10000 - 1) * scale } }
        var gamma = random(k, 2)
        gamma[7] = 0
        let norm = LayerNorm(weight: gamma, bias: random(k, 1), eps: 1e-5)
        let lin = Linear(weight: random(n * k, 0.3), bias: random(n, 1), inFeatures: k, outFeatures: n)
        let (norm2, lin2) = lin.foldingNorm(norm, precision: .int8)
        XCTAssertTrue(norm2.biasFree)
        XCTAssertEqual(norm2.weight, gamma.map(abs))
        XCTAssertNotNil(lin2.int8)
        for o in 0..<n { for i in 0..<k {
            XCTAssertEqual(lin2.weight[o * k + i], gamma[i] < 0 ? -lin.weight[o * k + i] : lin.weight[o * k + i])
        } }
        let x = randomTensor(rows: 9, cols: k, seed: 4)
        let want = lin.reference(norm.reference(x)), got = lin2.reference(norm2.reference(x))
        for (a, b) in zip(got.data, want.data) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        // And the int8 layer applies norm2 inside its quantization as the float twin does.
        let fused = lin2.callNormalized(norm2, x), twin = lin2.int8Reference(norm2.reference(x))
        let scale = twin.data.map { abs($0) }.max()!
        for (a, b) in zip(fused.data, twin.data) { XCTAssertEqual(a, b, accuracy: 1e-2 * scale) }
    }

    func testInt8LinearMatchesItsPlainTwinAndStaysNearFloat() {
        for (k, n, rows) in [(37, 21, 9), (64, 48, 130), (160, 640, 70)] {
            let w = randomTensor(rows: n, cols: k, seed: UInt64(k)).data.map { $0 * 0.1 }
            let b = randomTensor(rows: 1, cols: n, seed: 7).data
            let lin = Linear(weight: w, bias: b, inFeatures: k, outFeatures: n, precision: .int8)
            let x = randomTensor(rows: rows, cols: k, seed: UInt64(n))
            let twin = lin.int8Reference(x), fast = lin(x)
            let scale = twin.data.map { abs($0) }.max()!
            for i in twin.data.indices { XCTAssertEqual(fast.data[i], twin.data[i], accuracy: 1e-5 * scale, "row \(i / n) col \(i % n)") }
            // Against float arithmetic: the quantization error is small relative to the output.
            let exact = lin.reference(x)
            var se = 0.0, ss = 0.0
            for i in exact.data.indices { let d = Double(fast.data[i] - exact.data[i]); se += d * d; ss += Double(exact.data[i] * exact.data[i]) }
            XCTAssertLessThan(se / ss, 1e-3, "k \(k) n \(n)")
            // Residual and GELU epilogues on the int8 path.
            let res = randomTensor(rows: rows, cols: n, seed: 99)
            let fused = lin(x, residual: res, epilogue: .gelu)
            for i in twin.data.indices {
                XCTAssertEqual(fused.data[i], Activations.geluReference(twin.data[i] + res.data[i]), accuracy: 1e-4 * (scale + 6))
            }
        }
    }

    func testInt8DenseConvEqualsTheProductOnItsPatchMatrix() {
        // 24x24 pixels span two row blocks; pixel ranges differ (randomTensor's rows become pixels,
        // one of them all zero, a block of them all negative) so patch ranges come from different
        // neighbours, and the border patches have padding.
        let (h, w, c, o) = (24, 24, 16, 8)
        var x = randomTensor(rows: h * w, cols: c, seed: 11)
        for p in 100..<140 { for j in 0..<c { x.data[p * c + j] = -abs(x.data[p * c + j]) } }
        x = x.reshaped([h, w, c])
        let weight = randomTensor(rows: o, cols: 9 * c, seed: 12).data.map { $0 * 0.05 }
        let conv = Conv3x3(weight: weight, bias: nil, inChannels: c, outChannels: o, precision: .int8)
        let patches = conv.patches(x)
        // Exactly the int8 product of the float patch matrix (the same codes and scales).
        XCTAssertEqual(conv(x).data, conv.lin(patches).data)
        let twin = conv.lin.int8Reference(patches)
        let scale = twin.data.map { abs($0) }.max()!
        for (a, b) in zip(conv(x).data, twin.data) { XCTAssertEqual(a, b, accuracy: 1e-5 * scale) }
    }

    func testInt8MasksAgreeWithPyTorch() throws {
        // The 8 fixture boxes are small, and their masks swing with any last-bit change in the
        // embedding: on this session's CPU, four variants with the same embedding NMSE
        // (0.0025-0.0027; the shorter GELU and the LayerNorm folded into quantization each on or
        // off, bf16 turned off) gave mean DSC 0.959-0.979 and min 0.847-0.961. The NMSE is the
        // steady measure; the DSC bounds catch breakage, not drift. Measured: with bf16 (stem,
        // MLP fc2 of stage 2 and window attention in bf16; stage 3's fc2 in int8) mean 0.965,
        // min 0.897, NMSE 0.0034-0.0036 (0.0030-0.0031 with stage 3's fc2 in bf16); with
        // MEDSEG_CPU_FLAGS_OFF=avx512_bf16 (VNNI only) 0.954, 0.838, 0.0030-0.0031; with
        // avx512_bf16,avx512_vnni (7-bit activations, int8 forced) 0.969, 0.940, 0.0045-0.0047.
        // Those were with the LayerNorms before qkv and fc1 folded whole into the weights; with
        // only their signs folded (the magnitudes kept on the activations): mean 0.977, min
        // 0.941, NMSE 0.0026-0.0029, so the VNNI bound is now below the old 0.0034-0.0036.
        // The goal of issue 5 (mean 0.97) is measured over 32 objects of several modalities by
        // tools/eval/multimodality_agreement.py.
        let (minDSC, meanDSC, maxNMSE) = CPUFeatures.vnni ? (0.80, 0.95, 0.0032) : (0.80, 0.93, 0.007)
        let run = try ModelFixtures.againstPyTorch(try ModelFixtures.int8Model())
        for d in run.dice { XCTAssertGreaterThanOrEqual(d.dsc, minDSC, "\(d.name) box \(d.box)") }
        // The embedding stays close to PyTorch's.
        XCTAssertEqual(run.nmse.count, 2)
        for e in run.nmse {
            print("int8 \(e.name): embedding normalised MSE \(e.value)")
            XCTAssertLessThan(e.value, maxNMSE, e.name)
        }
        let scores = run.dice.map(\.dsc)
        let mean = scores.reduce(0, +) / Double(scores.count)
        print("int8 vs PyTorch fp32 masks: mean DSC \(mean) over \(scores.count) boxes, min \(scores.min()!)")
        XCTAssertGreaterThanOrEqual(mean, meanDSC)
    }
}

extension Linear {
    /// `normalizedRows` over a whole tensor, for tests.
    func callNormalized(_ norm: LayerNorm, _ x: Tensor) -> Tensor {
        var y = Tensor(zeros: [x.rows, outFeatures])
        var scratch = [Float](repeating: 0, count: x.count)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                scratch.withUnsafeMutableBufferPointer { sp in
                    normalizedRows(norm, xp.baseAddress!, count: x.rows, out: yp.baseAddress!, ldOut: outFeatures,
                                   scratch: sp.baseAddress!, epilogue: .none)
                }
            }
        }
        return y
    }
}
