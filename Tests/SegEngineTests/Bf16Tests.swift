import XCTest
@testable import SegEngine

/// The bf16 products of the int8 engine's sensitive layers: rounding by hand-worked values, and
/// oneDNN's bf16 matmul against its plain twin (bf16-rounded inputs and weights, Double sums).
final class Bf16Tests: XCTestCase {
    func testRoundingIsToNearestEven() {
        // bf16 keeps 7 mantissa bits: steps of 2^-7 just above 1.
        XCTAssertEqual(Bf16.round(1), 0x3F80)
        XCTAssertEqual(Bf16.round(-2), 0xC000)
        XCTAssertEqual(Bf16.round(1 + 0x1p-8), 0x3F80, "a tie goes to the even 1.0")
        XCTAssertEqual(Bf16.round(1 + 3 * 0x1p-8), 0x3F82, "a tie goes to the even 1 + 2^-6")
        XCTAssertEqual(Bf16.round(1 + 0x1p-8 + 0x1p-20), 0x3F81, "above the tie rounds up")
        XCTAssertEqual(Bf16.float(Bf16.round(3.140625)), 3.140625)
        XCTAssertTrue(Bf16.float(Bf16.round(.nan)).isNaN)
        XCTAssertEqual(Bf16.float(Bf16.round(.infinity)), .infinity)
        // convertRows rounds the same way.
        let x: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, -0.1, 65504]
        var out = [UInt16](repeating: 0, count: 4)
        Bf16.convertRows(x, count: 1, k: 4, ldx: 4, to: &out)
        XCTAssertEqual(out, x.map(Bf16.round))
    }

    func testBf16LinearMatchesItsPlainTwin() throws {
        var g = SplitMix(seed: 5)
        func random(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in (Float(g.next() % 20001) / 10000 - 1) * scale } }
        for (k, n, rows) in [(3, 5, 1), (64, 256, 130), (256, 64, 257), (160, 640, 70)] {
            let lin = Linear(weight: random(n * k, 0.2), bias: random(n, 1), inFeatures: k, outFeatures: n, precision: .bf16)
            guard lin.bf16 != nil else { throw XCTSkip("oneDNN has no bf16 matmul on this machine") }
            let x = Tensor(shape: [rows, k], data: random(rows * k, 3))
            let twin = lin.bf16Reference(x), fast = lin(x)
            let scale = twin.data.map { abs($0) }.max()!
            // The same rounded operands; only the order of the float sums differs.
            for i in twin.data.indices { XCTAssertEqual(fast.data[i], twin.data[i], accuracy: 2e-6 * scale * Float(k).squareRoot(), "k \(k) row \(i / n) col \(i % n)") }
            // And bf16 stays near float arithmetic (relative error ~2^-9 per operand).
            let exact = lin.reference(x)
            var se = 0.0, ss = 0.0
            for i in exact.data.indices { let d = Double(fast.data[i] - exact.data[i]); se += d * d; ss += Double(exact.data[i] * exact.data[i]) }
            XCTAssertLessThan(se / ss, 2e-5, "k \(k) n \(n)")
            XCTAssertGreaterThan(se / ss, 0, "the product really ran in bf16")
            // Residual and GELU epilogues, through the row-blocked path.
            let res = Tensor(shape: [rows, n], data: random(rows * n, 1))
            let fused = lin(x, residual: res, epilogue: .gelu)
            for i in twin.data.indices {
                XCTAssertEqual(fused.data[i], Activations.geluReference(twin.data[i] + res.data[i]), accuracy: 1e-4 * (scale + 2))
            }
        }
    }

    /// `--precision bf16`: every product in bf16. Its embeddings of the PyTorch fixture images
    /// are closer to PyTorch's than the int8 engine's, and its masks agree with PyTorch's.
    func testBf16ModelIsCloserToPyTorchThanInt8() throws {
        guard CPUFeatures.bf16 else { throw XCTSkip("this CPU has no bf16 dot products") }
        let bf16 = try ModelFixtures.bf16Model()
        XCTAssertEqual(bf16.precision, .bf16)
        XCTAssertTrue(Segmenter(model: bf16).compactEmbeddings)
        let run = try ModelFixtures.againstPyTorch(bf16), int8 = try ModelFixtures.againstPyTorch(try ModelFixtures.int8Model())
        XCTAssertEqual(run.nmse.count, 2)
        for (b, i) in zip(run.nmse, int8.nmse) {
            print("bf16 \(b.name): embedding normalised MSE \(b.value) (int8 \(i.value))")
            XCTAssertLessThan(b.value, 0.0015, b.name)
            XCTAssertLessThan(b.value, i.value / 2, b.name)
        }
        let scores = run.dice.map(\.dsc)
        let mean = scores.reduce(0, +) / Double(scores.count)
        print("bf16 vs PyTorch fp32 masks: mean DSC \(mean) over \(scores.count) boxes, min \(scores.min()!)")
        XCTAssertGreaterThanOrEqual(mean, 0.97)
        XCTAssertGreaterThanOrEqual(scores.min()!, 0.85)
    }
}
