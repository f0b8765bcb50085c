import XCTest
@testable import SegEngine

/// TinyViT's window attention without padding tokens (WindowLayout, WindowBiases) against the
/// way PyTorch computes it: zero-pad the map to whole windows, then LayerNorm, qkv, attention
/// over all ws*ws tokens with the position biases, proj, and crop; all in plain Double twins.
final class WindowAttentionTests: XCTestCase {
    func paddedReference(_ block: TinyViTBlock, _ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let a = block.attn, ws = block.attn.windowSize, n = ws * ws, kd = a.keyDim
        var out = x
        for wy in stride(from: 0, to: h, by: ws) {
            for wx in stride(from: 0, to: w, by: ws) {
                var win = Tensor(zeros: [n, c])
                for i in 0..<n where wy + i / ws < h && wx + i % ws < w {
                    for ch in 0..<c { win.data[i * c + ch] = x.data[((wy + i / ws) * w + wx + i % ws) * c + ch] }
                }
                let t = a.qkv.reference(a.norm.reference(win))
                var heads = Tensor(zeros: [n, c])
                for hd in 0..<a.heads {
                    func part(_ p: Int) -> [Float] {
                        (0..<(n * kd)).map { t.data[($0 / kd) * 3 * c + hd * 3 * kd + p * kd + $0 % kd] }
                    }
                    let bias = (0..<(n * n)).map { ij -> Float in
                        let (i, j) = (ij / n, ij % n)
                        return a.table[hd * n + abs(i / ws - j / ws) * ws + abs(i % ws - j % ws)]
                    }
                    let o = AttentionKernel.reference(q: part(0), k: part(1), v: part(2), nq: n, nk: n, d: kd,
                                                      scale: 1 / Float(kd).squareRoot(), bias: bias)
                    for i in 0..<n { for d in 0..<kd { heads.data[i * c + hd * kd + d] = o[i * kd + d] } }
                }
                let y = a.proj.reference(heads)
                for i in 0..<n where wy + i / ws < h && wx + i % ws < w {
                    for ch in 0..<c { out.data[((wy + i / ws) * w + wx + i % ws) * c + ch] += y.data[i * c + ch] }
                }
            }
        }
        return out
    }

    func testWindowAttentionWithoutPaddingTokensMatchesPaddedWindows() throws {
        let encoder = try ModelFixtures.model().imageEncoder
        var g = SplitMix(seed: 5)
        // Stage 1 (window 7) and stage 2 (window 14); sizes with partial windows on either edge,
        // one whole window, and a map smaller than one window.
        for (stage, sizes) in [(0, [(9, 16), (7, 7), (3, 5)]), (1, [(15, 20), (16, 14)])] {
            let block = encoder.layers[stage].blocks[0], c = block.attn.proj.outFeatures
            for (h, w) in sizes {
                let x = Tensor(shape: [h, w, c], data: (0..<(h * w * c)).map { _ in Float(g.next() % 2001) / 1000 - 1 })
                let mine = block.attentionResidual(x), ref = paddedReference(block, x)
                let scale = zip(ref.data, x.data).map { abs($0 - $1) }.max()!
                for i in ref.data.indices {
                    XCTAssertEqual(mine.data[i], ref.data[i], accuracy: 2e-5 * scale, "window \(block.attn.windowSize), \(h)x\(w) at \(i)")
                }
            }
        }
    }

    func testLayoutKeepsRealTokensAndOnePaddingRowPerPartialWindow() {
        // 2 x 3 windows; the whole ones first, then the padded ones, each in row-major order.
        let l = WindowLayout(height: 9, width: 16, size: 7)
        XCTAssertEqual(l.windows.map { [$0.y0, $0.x0] }, [[0, 0], [0, 7], [0, 14], [7, 0], [7, 7], [7, 14]])
        XCTAssertEqual(l.windows.map(\.real), [49, 49, 14, 14, 14, 4])
        XCTAssertEqual(l.windows.map(\.padded), [false, false, true, true, true, true])
        XCTAssertEqual(l.whole, 2)
        XCTAssertEqual(l.rows, 9 * 16 + 4)
        XCTAssertEqual(l.windows.map(\.offset), [0, 49, 98, 113, 128, 143])
        let m = WindowLayout(height: 16, width: 9, size: 7)
        XCTAssertEqual(m.windows.map { [$0.y0, $0.x0] }, [[0, 0], [7, 0], [0, 7], [7, 7], [14, 0], [14, 7]])
        XCTAssertEqual(m.whole, 2)
    }
}

/// The bf16 window attention (int8 engine, CPUs with AVX-512 BF16) against the same attention in
/// Double on bf16-rounded q, k and v; and inside the model, against the float path.
final class Bf16WindowAttentionTests: XCTestCase {
    func testBf16WindowAttentionMatchesReferenceOnRoundedInputs() throws {
        guard CPUFeatures.bf16 else { throw XCTSkip("this CPU has no AVX-512 BF16") }
        var g = SplitMix(seed: 21)
        func random() -> Float { Float(g.next() % 2001) / 1000 - 1 }
        for (windows, n, heads) in [(3, 49, 2), (1, 15, 4), (2, 5, 3), (1, 196, 1), (1, 196, 5), (2, 113, 5)] {
            let c = heads * 32, kd = 32
            guard let att = Bf16WindowAttention(windows: windows, tokens: n, heads: heads) else { return XCTFail("no bf16 matmul") }
            let qkv = (0..<(windows * n * 3 * c)).map { _ in 2 * random() }
            let biases = (0..<windows).map { _ in (0..<(heads * n * n)).map { _ in random() } }
            var out = [Float](repeating: .nan, count: windows * n * c)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: att.scratchBytes, alignment: 64)
            defer { scratch.deallocate() }
            let scale = 1 / Float(kd).squareRoot()
            qkv.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    let copies = biases.map { b -> UnsafeMutablePointer<Float> in
                        let p = UnsafeMutablePointer<Float>.allocate(capacity: b.count); p.initialize(from: b, count: b.count); return p
                    }
                    defer { copies.forEach { $0.deallocate() } }
                    let (qb, ob) = (q.baseAddress!, o.baseAddress!)
                    att.run(rows: { qb + ($0 * n + $1) * 3 * c }, out: { ob + ($0 * n + $1) * c },
                            scale: scale, bias: { UnsafePointer(copies[$0]) }, scratch: scratch)
                }
            }
            let rounded = qkv.map { Bf16.float(Bf16.round($0)) }
            for w in 0..<windows {
                for h in 0..<heads {
                    func part(_ p: Int) -> [Float] {
                        (0..<(n * kd)).map { rounded[(w * n + $0 / kd) * 3 * c + h * 3 * kd + p * kd + $0 % kd] }
                    }
                    let v = part(2), vmax = v.map { abs($0) }.max()!
                    let ref = AttentionKernel.reference(q: part(0), k: part(1), v: v, nq: n, nk: n, d: kd, scale: scale,
                                                        bias: Array(biases[w][(h * n * n)..<((h + 1) * n * n)]))
                    for i in 0..<n { for d in 0..<kd {
                        XCTAssertEqual(out[(w * n + i) * c + h * kd + d], ref[i * kd + d], accuracy: 4e-3 * vmax,
                                       "\(windows)x\(n) tokens, \(heads) heads: window \(w) head \(h) token \(i)")
                    } }
                }
            }
        }
    }

    /// Stage 2 of the int8 model on its real map size (64 x 64, windows of 14): the bf16 groups
    /// (whole windows, then each kind of padded one; norm and qkv per group) against the float
    /// path on the same map, on both workers at once (oneDNN's shared scratchpad once garbled
    /// such concurrent runs).
    func testInt8ModelWindowAttentionInBf16AgreesWithFloat() throws {
        guard CPUFeatures.bf16 else { throw XCTSkip("this CPU has no AVX-512 BF16") }
        let attn = try ModelFixtures.int8Model().imageEncoder.layers[1].blocks[0].attn
        XCTAssertNotNil(attn.bf16Groups)
        let layout = attn.expected.layout, c = attn.proj.outFeatures
        var g = SplitMix(seed: 9)
        let x = Tensor(shape: [layout.height, layout.width, c],
                       data: (0..<(layout.height * layout.width * c)).map { _ in 2 * (Float(g.next() % 2001) / 1000 - 1) })
        let fast = attn.residual(x), plain = attn.residual(x, float: true)
        let err = zip(fast.data, plain.data).map { abs($0 - $1) }.max()!
        let scale = zip(plain.data, x.data).map { abs($0 - $1) }.max()!   // of the attention's part
        XCTAssertLessThan(err, 0.01 * scale)
        XCTAssertGreaterThan(err, 0, "the bf16 path was not taken")
    }
}
