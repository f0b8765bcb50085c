import XCTest
@testable import SegEngine

/// Deterministic pseudo-random floats in [-1, 1) for test inputs.
struct TestRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
    }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
    mutating func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, data: array(shape.reduce(1, *))) }
}

/// Largest absolute difference, relative to the reference's largest magnitude.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var d: Float = 0, m: Float = 1e-12
    for i in a.indices { d = max(d, abs(a[i] - b[i])); m = max(m, abs(b[i])) }
    return d / m
}

final class OpsTests: XCTestCase {
    func testGemmBackendsAgreeWithReferenceIncludingTransposes() {
        var r = TestRandom(1)
        let saved = Gemm.backend
        defer { Gemm.backend = saved }
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (64, 33, 130), (257, 64, 96)] {
            for transA in [false, true] { for transB in [false, true] {
                let a = r.array(m * k), b = r.array(k * n)
                var want = [Float](repeating: 0, count: m * n)
                let lda = transA ? m : k, ldb = transB ? k : n
                Gemm.referenceSgemm(m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB,
                                    c: &want, ldc: n, alpha: 1, beta: 0)
                for backend in [GemmBackend.dnnl, .openblas] {
                    Gemm.backend = backend
                    var got = [Float](repeating: 0, count: m * n)
                    Gemm.sgemm(m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB, c: &got, ldc: n)
                    XCTAssertLessThan(relativeError(got, want), 1e-5, "\(backend) \(m)x\(n)x\(k) tA=\(transA) tB=\(transB)")
                }
            } }
        }
    }

    func testLinearWithAndWithoutBiasMatchesReference() {
        var r = TestRandom(2)
        let x = r.tensor([37, 48])
        for bias in [r.array(20), nil] {
            let l = Linear(weight: r.array(20 * 48), bias: bias, inFeatures: 48, outFeatures: 20)
            XCTAssertEqual(l(x).shape, [37, 20])
            XCTAssertLessThan(relativeError(l(x).data, l.reference(x).data), 1e-5)
        }
    }

    func testRowBlockedLinearWithResidualAndGeluMatchesReference() {
        var r = TestRandom(12)
        // 700 rows: several blocks per worker and a ragged last block.
        let x = r.tensor([700, 40]), res = r.tensor([700, 24])
        for bias in [r.array(24), nil] {
            let l = Linear(weight: r.array(24 * 40), bias: bias, inFeatures: 40, outFeatures: 24)
            let plain = l.reference(x)
            XCTAssertLessThan(relativeError(l(x, epilogue: .none).data, plain.data), 1e-5)
            let gelu = plain.data.map(Activations.geluReference)
            XCTAssertLessThan(relativeError(l(x, epilogue: .gelu).data, gelu), 1e-5)
            let withRes = zip(plain.data, res.data).map { Activations.geluReference($0 + $1) }
            XCTAssertLessThan(relativeError(l(x, residual: res, epilogue: .gelu).data, withRes), 1e-5)
        }
        // The fused MLP (norm, fc1, GELU, fc2, residual) against its unfused composition.
        let ln = LayerNorm(weight: r.array(40), bias: r.array(40), eps: 1e-5)
        let fc1 = Linear(weight: r.array(160 * 40), bias: r.array(160), inFeatures: 40, outFeatures: 160)
        let fc2 = Linear(weight: r.array(40 * 160), bias: r.array(40), inFeatures: 160, outFeatures: 40)
        let mlp = TinyViTMlp(norm: ln, fc1: fc1, fc2: fc2)
        var h = fc1.reference(ln.reference(x))
        h.data = h.data.map(Activations.geluReference)
        let want = zip(x.data, fc2.reference(h).data).map { $0 + $1 }
        XCTAssertLessThan(relativeError(mlp.residual(x).data, want), 1e-5)
    }

    func testLayerNormMatchesReference() {
        var r = TestRandom(3)
        var x = r.tensor([50, 64])
        for i in 0..<64 { x.data[i] += 100 }  // a row with a large mean
        let ln = LayerNorm(weight: r.array(64), bias: r.array(64), eps: 1e-6)
        XCTAssertLessThan(relativeError(ln(x).data, ln.reference(x).data), 1e-5)
    }

    /// The int8 engine's shorter GELU (tools/fixtures/fit_fast_gelu.py): within 1.2e-5 of the
    /// erf form everywhere.
    func testFastGeluStaysWithinItsFittedErrorOfTheErfForm() {
        let xs: [Float] = stride(from: -12, through: 12, by: 0.001).map { Float($0) }
        var worst: Float = 0
        for x in xs { worst = max(worst, abs(Activations.geluFast(x) - Activations.geluReference(x))) }
        XCTAssertLessThan(worst, 1.2e-5)
        XCTAssertGreaterThan(worst, 2e-6, "the shorter rational should not match the exact one")
    }

    func testGeluMatchesErfFormAndSoftmaxRowsSumToOne() {
        var xs: [Float] = stride(from: -8, through: 8, by: 0.01).map { Float($0) }
        let want = xs.map(Activations.geluReference)
        Activations.gelu(&xs)
        for i in xs.indices { XCTAssertEqual(xs[i], want[i], accuracy: 2e-6) }
        XCTAssertEqual(Activations.geluReference(1), 0.8413447, accuracy: 1e-6)  // torch.nn.GELU()(1.0)
        var s: [Float] = [1, 2, 3, 1000, 1000, -1000]
        Activations.softmaxRows(&s, rows: 2, n: 3)
        XCTAssertEqual(s[0], 0.09003057, accuracy: 1e-7)
        XCTAssertEqual(s[2], 0.66524096, accuracy: 1e-7)
        XCTAssertEqual(s[3], 0.5, accuracy: 1e-7)
        XCTAssertEqual(s[5], 0, accuracy: 1e-7)
    }

    func testFastExpAgreesWithExpfOnTheSoftmaxRange() {
        var worst: Double = 0
        for i in 0...200_000 {
            let x = -Float(i) * 87 / 200_000
            let want = Double(expf(x))
            worst = max(worst, abs(Double(Activations.expNonPositive(x)) - want) / want)
        }
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertEqual(Activations.expNonPositive(0), 1, accuracy: 1e-7)
        XCTAssertGreaterThan(Activations.expNonPositive(-1000), 0)
    }

    /// 12 channels take the per-pixel path only; 48 the 16-channel interior path (four pixels at
    /// once, then single ones) and the border pixels; widths 1-3 have no interior pixel, or one.
    func testDepthwiseConvStrideOneAndTwoMatchReference() {
        var r = TestRandom(4)
        for c in [12, 48] {
            for (h, w, stride) in [(9, 7, 1), (9, 7, 2), (8, 8, 2), (1, 1, 1), (3, 2, 1), (4, 3, 1), (5, 5, 2), (2, 4, 2),
                                   (7, 12, 1), (6, 13, 2)] {
                let x = r.tensor([h, w, c])
                let conv = DepthwiseConv3x3(weight: r.array(c * 9), bias: r.array(c), stride: stride)
                let y = conv(x), ref = conv.reference(x)
                XCTAssertEqual(y.shape, [(h - 1) / stride + 1, (w - 1) / stride + 1, c])
                XCTAssertLessThan(relativeError(y.data, ref.data), 1e-5, "\(h)x\(w)x\(c) stride \(stride)")
                XCTAssertLessThan(relativeError(conv.gelu(x).data, ref.data.map(Activations.geluReference)), 1e-5,
                                  "GELU \(h)x\(w)x\(c) stride \(stride)")
            }
        }
    }

    /// Hand-worked: a centre tap of 1 copies the input; PyTorch's [C,1,3,3] order is (ky, kx).
    func testDepthwiseConvWeightLayoutByHand() {
        var w = [Float](repeating: 0, count: 9)
        w[0 * 3 + 2] = 1  // ky=0, kx=2: output (y,x) reads input (y-1, x+1)
        let conv = DepthwiseConv3x3(weight: w, bias: [0], stride: 1)
        let x = Tensor(shape: [3, 3, 1], data: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(conv(x).data, [0, 0, 0, 2, 3, 0, 5, 6, 0])
    }

    func testDenseConvAndTransposedConvMatchReference() {
        var r = TestRandom(5)
        let x = r.tensor([6, 5, 8])
        let c3 = Conv3x3(weight: r.array(4 * 8 * 9), bias: nil, inChannels: 8, outChannels: 4)
        XCTAssertLessThan(relativeError(c3(x).data, c3.reference(x).data), 1e-5)
        let ct = ConvTranspose2x2(weight: r.array(8 * 3 * 4), bias: r.array(3), inChannels: 8, outChannels: 3)
        XCTAssertEqual(ct(x).shape, [12, 10, 3])
        XCTAssertLessThan(relativeError(ct(x).data, ct.reference(x).data), 1e-5)
    }

    /// A transposed convolution of one map among several stacked in a tensor's rows (the
    /// decoder's per-prompt keys) reads the map in place: the same as on a copy of its rows,
    /// in fp32 and in int8.
    func testTransposedConvOnRowsOfABiggerTensorEqualsItOnTheirCopy() {
        var r = TestRandom(9)
        let stacked = r.tensor([3 * 20, 8])   // three 4x5 maps of 8 channels
        for precision in [Precision.fp32, .int8] {
            let ct = ConvTranspose2x2(weight: r.array(8 * 3 * 4), bias: r.array(3), inChannels: 8, outChannels: 3, precision: precision)
            for m in 0..<3 {
                let copy = Tensor(shape: [4, 5, 8], data: Array(stacked.data[(m * 160)..<((m + 1) * 160)]))
                let inPlace = ct(stacked, rows: (m * 20)..<((m + 1) * 20), height: 4, width: 5)
                XCTAssertEqual(inPlace.shape, [8, 10, 3])
                XCTAssertEqual(inPlace.data, ct(copy).data, "\(precision) map \(m)")
            }
        }
    }

    func testAttentionKernelMatchesReferenceWithBiasStridesAndOddSizes() {
        var r = TestRandom(6)
        for (nq, nk, d, withBias) in [(49, 49, 32, true), (7, 130, 16, false), (300, 7, 16, false), (5, 9, 20, true), (1, 1, 8, false), (7, 7, 32, false), (17, 16, 8, false)] {
            let stride = d + 3  // rows embedded in wider rows, as in the fused qkv layout
            let q = r.array(nq * stride), k = r.array(nk * stride), v = r.array(nk * stride)
            let bias = withBias ? r.array(nq * nk) : nil
            var out = [Float](repeating: 0, count: nq * stride)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: AttentionKernel.scratchCount(nq: nq, nk: nk, d: d))
            defer { scratch.deallocate() }
            bias.withOptionalPointer { b in
                AttentionKernel.run(q: q, qStride: stride, k: k, kStride: stride, v: v, vStride: stride, out: &out,
                                    outStride: stride, nq: nq, nk: nk, d: d, scale: 0.3, bias: b, scratch: scratch)
            }
            let pack = { (a: [Float], n: Int) in (0..<n).flatMap { i in a[(i * stride)..<(i * stride + d)] } }
            let want = AttentionKernel.reference(q: pack(q, nq), k: pack(k, nk), v: pack(v, nk), nq: nq, nk: nk, d: d, scale: 0.3, bias: bias)
            XCTAssertLessThan(relativeError(pack(out, nq), want), 1e-5, "nq \(nq) nk \(nk) d \(d)")
        }
    }

    /// Hand-worked transposed convolution: in=1, out=1, weight [[1,2],[3,4]], bias 10.
    func testTransposedConvLayoutByHand() {
        let ct = ConvTranspose2x2(weight: [1, 2, 3, 4], bias: [10], inChannels: 1, outChannels: 1)
        let y = ct(Tensor(shape: [1, 2, 1], data: [1, 2]))
        XCTAssertEqual(y.data, [11, 12, 12, 14, 13, 14, 16, 18])
    }
}

extension Optional where Wrapped == [Float] {
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: return body(nil)
        }
    }
}

/// `bench --profile`'s accounting: a measure inside another counts to its own kind only, so
/// the kinds add up to the time measured ("other" came out negative when nested time was
/// counted twice).
final class ProfileTests: XCTestCase {
    func testNestedMeasuresAreNotCountedTwice() {
        Profile.enabled = true
        Profile.reset()
        defer { Profile.enabled = false; Profile.reset() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        Profile.measure("outer") { Profile.measure("inner") { usleep(30_000) } }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let r = Dictionary(uniqueKeysWithValues: Profile.report().map { ($0.kind, $0.ms) })
        let outer = r["outer"] ?? .nan, inner = r["inner"] ?? .nan
        XCTAssertGreaterThanOrEqual(inner, 30)
        XCTAssertLessThan(outer, 5, "the outer measure's own time excludes the inner one's")
        XCTAssertLessThanOrEqual(outer + inner, wall + 1e-6)
    }
}
