import XCTest
@testable import SegEngine

/// TinyViT's window attention without padding tokens (WindowLayout, WindowBiases) against the
/// way PyTorch computes it: zero-pad the map to whole windows, then LayerNorm, qkv, attention
/// over all ws*ws tokens with the position biases, proj, and crop; all in plain Double twins.
final class WindowAttentionTests: XCTestCase {
    func paddedReference(_ block: TinyViTBlock, _ x: Tensor) -> Tensor {
        let (h, w, c) = (x.shape[0], x.shape[1], x.shape[2])
        let a = block.attn, ws = block.windowSize, n = ws * ws, kd = a.keyDim
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
                    XCTAssertEqual(mine.data[i], ref.data[i], accuracy: 2e-5 * scale, "window \(block.windowSize), \(h)x\(w) at \(i)")
                }
            }
        }
    }

    func testLayoutKeepsRealTokensAndOnePaddingRowPerPartialWindow() {
        let l = WindowLayout(height: 9, width: 16, size: 7)
        XCTAssertEqual(l.windows.map(\.real), [49, 49, 14, 14, 14, 4])
        XCTAssertEqual(l.windows.map(\.padded), [false, false, true, true, true, true])
        XCTAssertEqual(l.rows, 9 * 16 + 4)
        XCTAssertEqual(l.windows.map(\.offset), [0, 49, 98, 113, 128, 143])
    }
}
