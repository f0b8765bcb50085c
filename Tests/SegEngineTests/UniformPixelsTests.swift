import XCTest
@testable import SegEngine

/// The stem's skipping of uniform pixels (`UniformMap`): the map logic by hand-worked cases, and
/// the encoder with skipping against the encoder computing every pixel.
final class UniformPixelsTests: XCTestCase {
    static func map(_ rows: [String]) -> UniformMap {
        UniformMap(height: rows.count, width: rows[0].count, uniform: rows.joined().map { $0 == "#" })
    }

    func testThroughConv3x3KeepsPixelsWhoseTapsAreAllUniform() {
        let m = Self.map(["######",
                          "######",
                          "######",
                          "####..",
                          "######"])
        // Stride 1: the border never (zero padding), and not next to the two plain pixels.
        XCTAssertEqual(m.throughConv3x3(stride: 1), Self.map(["......",
                                                               ".####.",
                                                               ".##...",
                                                               ".##...",
                                                               "......"]))
        // Stride 2: output (oy, ox) reads rows and columns 2o-1 ... 2o+1.
        XCTAssertEqual(m.throughConv3x3(stride: 2), Self.map(["...",
                                                               ".#.",
                                                               "..."]))
        XCTAssertEqual(UniformMap(zerosOf: Tensor(shape: [1, 3, 2], data: [0, 0, 0, 1, -0.0, 0])).uniform, [true, false, true])
    }

    func testReadMarksTheTapsOfComputedOutputs() {
        let need = UniformMap.read(by: [false, false, false,
                                        false, false, true], outWidth: 3, stride: 2, inHeight: 4, inWidth: 6)
        // Output (1, 2) reads input rows 1-3, columns 3-5.
        XCTAssertEqual(need.map { $0 ? "#" : "." }.joined(), "......" + "...###" + "...###" + "...###")
        let one = UniformMap.read(by: [false, true, false], outWidth: 3, stride: 1, inHeight: 1, inWidth: 3)
        XCTAssertEqual(one, [true, true, true])
    }

    func testRunsJoinShortGaps() {
        let row = Array("..##.....##.#............###".map { $0 == "#" })
        XCTAssertEqual(UniformMap.runs(row, row: 0, width: row.count, gap: 4), [2..<4, 9..<13, 25..<28])
        XCTAssertEqual(UniformMap.runs(row, row: 0, width: row.count, gap: 1), [2..<4, 9..<11, 12..<13, 25..<28])
        XCTAssertEqual(UniformMap.runs(row, row: 0, width: row.count, gap: 30), [2..<28])
        XCTAssertEqual(UniformMap.runs([false, false], row: 0, width: 2), [])
    }

    /// A 256x256 image: noise inside an ellipse (a head) of the left 214 columns, zero elsewhere
    /// (background and the padding of a 217 x 181 MR slice).
    static func backgroundImage() -> Tensor {
        var g = SplitMix(seed: 11)
        var t = Tensor(zeros: [256, 256, 3])
        for y in 0..<256 { for x in 0..<214 {
            let dy = (Double(y) - 128) / 110, dx = (Double(x) - 107) / 90
            guard dy * dy + dx * dx < 1 else { continue }
            let v = Float(g.next() % 1000) / 999
            for c in 0..<3 { t.data[(y * 256 + x) * 3 + c] = v }
        } }
        return t
    }

    /// The skipped pixels get the values computing them gives; the computed ones may differ in
    /// the last bits only (the products' kernels sum in an order that depends on how many rows
    /// they are given, and runs of pixels are shorter than rows). In bf16 those last bits can
    /// move roundings downstream, so the embedding is held to fp32's, as close as without skipping.
    func testEncoderSkipsUniformPixelsWithinRounding() throws {
        let image = Self.backgroundImage()
        XCTAssertEqual(UniformMap(zerosOf: image).fraction, 0.53, accuracy: 0.01)
        var precisions: [Precision] = [.fp32, .int8]
        if CPUFeatures.bf16 { precisions.append(.bf16) }
        let reference = try ModelFixtures.model(.fp32).imageEncoder.run(image, keepStages: false, shortcuts: false).embedding.data
        func nmse(_ x: [Float], _ y: [Float]) -> Double {
            zip(x, y).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / y.map { Double($0) * Double($0) }.reduce(0, +)
        }
        for precision in precisions {
            let enc = try ModelFixtures.model(precision).imageEncoder
            let full = enc.run(image, keepStages: true, shortcuts: false), skipped = enc.run(image, keepStages: true)
            let (a, b) = (full.layers[0], skipped.layers[0])
            XCTAssertEqual(a.shape, b.shape)
            let scale = a.data.map(abs).max()!, worst = zip(a.data, b.data).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5 * scale, "\(precision) stage 0: largest difference \(worst), values up to \(scale)")
            let without = nmse(full.embedding.data, reference), with = nmse(skipped.embedding.data, reference)
            XCTAssertLessThan(with, 1.1 * without + 1e-9, "\(precision) embedding against fp32's: NMSE \(with) skipping, \(without) not")
        }
    }
}
