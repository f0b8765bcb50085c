import XCTest
@testable import SegEngine

/// The same image gives bit-identical embeddings run after run, whatever the heap looks like.
/// (int8 did not: oneDNN split its int8 products over nested OpenMP threads and summed the
/// parts in float, so a flipped last bit could move an activation code; docs/DECISIONS.md.)
final class DeterminismTests: XCTestCase {
    func testRepeatedEmbeddingsAreBitIdentical() throws {
        var g = SplitMix(seed: 21)
        let image = Tensor(shape: [256, 256, 3], data: (0..<(256 * 256 * 3)).map { _ in Float(g.next() % 1000) / 1000 })
        for model in [try ModelFixtures.model(), try ModelFixtures.int8Model()] {
            let first = model.embed(image)
            var ballast: [[Float]] = []
            for i in 0..<4 {
                ballast.append([Float](repeating: 1, count: 1000 * (i + 1) + 3))   // shift the heap
                XCTAssertEqual(model.embed(image).data, first.data, "run \(i + 2)")
            }
        }
    }
}
