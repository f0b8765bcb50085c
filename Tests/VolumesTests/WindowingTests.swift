import XCTest
@testable import Volumes

final class WindowingTests: XCTestCase {
    // Hand-worked: window W400/L40 spans -160...240 HU; 255/400 per HU.
    func testCTWindowMapsLinearlyAndClips() {
        let w = WindowPreset.softTissue.ctWindow!
        let out = Windowing.apply([-1000, -160, 40, 239, 240, 3000], window: w)
        // (40+160)*255/400 = 127.5 -> 127; (239+160)*255/400 = 254.36 -> 254
        XCTAssertEqual(out, [0, 0, 127, 254, 255, 255])
    }

    // numpy: np.percentile([1,2,3,4,5,6,7,8,9,10], 25) == 3.25, 99.5 -> 9.955, 0.5 -> 1.045
    func testPercentileMatchesNumpyLinearInterpolation() {
        var v: [Float] = [10, 3, 7, 1, 9, 2, 8, 4, 6, 5]
        XCTAssertEqual(Windowing.percentile(&v, 25), 3.25, accuracy: 1e-9)
        v.shuffle()
        XCTAssertEqual(Windowing.percentile(&v, 99.5), 9.955, accuracy: 1e-5)
        v.shuffle()
        XCTAssertEqual(Windowing.percentile(&v, 0.5), 1.045, accuracy: 1e-5)
        var one: [Float] = [4]
        XCTAssertEqual(Windowing.percentile(&one, 50), 4)
    }

    func testSelectionAgreesWithSortingOnRandomData() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let n = Int.random(in: 1...300, using: &rng)
            let v = (0..<n).map { _ in Float(Int.random(in: -20...20, using: &rng)) }  // many ties
            let sorted = v.sorted()
            let k = Int.random(in: 0..<n, using: &rng)
            var w = v
            XCTAssertEqual(Windowing.select(&w, k), sorted[k])
        }
    }

    // MedSAM MR rule on hand-worked data: nonzero values 1...200 -> p0.5 = 1.995, p99.5 = 199.005;
    // zeros stay zero; the top maps to 255, the bottom to 0.
    func testPercentileWindowKeepsZerosAndSpansNonzeroRange() {
        let values: [Float] = [0, 0] + (1...200).map(Float.init)
        let w = Windowing.percentileWindow(values)!
        XCTAssertEqual(w.lower, 1.995, accuracy: 1e-4)
        XCTAssertEqual(w.upper, 199.005, accuracy: 1e-4)
        let out = Windowing.applyPercentile(values)
        XCTAssertEqual(out[0], 0)
        XCTAssertEqual(out[2], 0)       // 1 < lower bound -> 0
        XCTAssertEqual(out.last, 255)   // 200 > upper bound -> 255
        // 100: (100-1.995)/(197.01)*255 = 126.85 -> 126
        XCTAssertEqual(out[101], 126)
        XCTAssertNil(Windowing.percentileWindow([0, 0, 0]))
    }

    // A float image with NaN ("no value") and infinities: the window comes from the finite
    // nonzero values only (the same 1...200 as above), NaN maps to 0 and the infinities clamp;
    // this used to trap converting NaN to UInt8.
    func testNonFiniteValuesLeaveTheWindowAloneAndMapToItsEnds() {
        let values: [Float] = [0, .nan] + (1...200).map(Float.init) + [.infinity, -.infinity]
        let w = Windowing.percentileWindow(values)!
        XCTAssertEqual(w.lower, 1.995, accuracy: 1e-4)
        XCTAssertEqual(w.upper, 199.005, accuracy: 1e-4)
        let out = Windowing.applyPercentile(values)
        XCTAssertEqual(out[1], 0)                  // NaN
        XCTAssertEqual(out[101], 126)              // 100, as above
        XCTAssertEqual(out[out.count - 2], 255)    // +inf
        XCTAssertEqual(out[out.count - 1], 0)      // -inf
        XCTAssertNil(Windowing.percentileWindow([0, .nan, .infinity]))
    }
}
