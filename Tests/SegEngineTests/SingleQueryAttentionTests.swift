import XCTest
@testable import SegEngine

/// The decoder's final attention for mask token 0 alone (`SAMAttention.singleQuery`, keys and
/// values never projected) against the attention as PyTorch writes it (q, k and v projected,
/// softmax(q k^T / sqrt(d)) v per head, out_proj), both with the checkpoint's fp32 weights.
final class SingleQueryAttentionTests: XCTestCase {
    func testSingleQueryMatchesProjectedAttention() throws {
        let fin = try ModelFixtures.model(.fp32).maskDecoder.transformer.finalAttnTokenToImage
        var g = SplitMix(seed: 3)
        let batch = 3, nk = 4096, dim = 256
        func normal(_ n: Int, _ s: Float) -> Tensor { Tensor(shape: [n, dim], data: (0..<(n * dim)).map { _ in g.normal() * s }) }
        let q = normal(batch, 2), keys = normal(batch * nk, 1), pe = normal(nk, 1)
        let got = fin.singleQuery(q, keys: keys, keyPE: pe, batch: batch, nk: nk)
        var withPE = keys
        for r in 0..<(batch * nk) { for c in 0..<dim { withPE.data[r * dim + c] += pe.data[(r % nk) * dim + c] } }
        let want = fin(q: q, k: withPE, v: keys, batch: batch, nq: 1, nk: nk)
        XCTAssertEqual(got.shape, want.shape)
        let scale = want.data.map(abs).max()!
        let worst = zip(got.data, want.data).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(scale, 0.1)
        XCTAssertLessThan(worst, 1e-4 * scale, "largest difference \(worst), values up to \(scale)")
    }
}
