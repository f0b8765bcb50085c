import Foundation
import XCTest
@testable import Volumes

/// DSC/NSD against golden values from the `surface-distance` package computed the way the
/// challenge script does (tools/fixtures/make_metric_fixtures.py).
final class MetricsTests: XCTestCase {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/metrics")

    func testOfficialSemanticsAgreeWithSurfaceDistancePackage() throws {
        let data = try Data(contentsOf: Self.dir.appendingPathComponent("cases.json"))
        let cases = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let shape = c["shape"] as! [Int]
            let load = { (k: String) in try [UInt8](Data(contentsOf: Self.dir.appendingPathComponent("\(name).\(k).u8"))).map(UInt16.init) }
            let s = Metrics.evaluate(pred: try load("pred"), gt: try load("gt"), shape: shape, spacing: c["spacing"] as! [Double],
                                     tolerance: c["tolerance"] as! Double, is3D: c["is3D"] as! Bool)
            let e = c["expected"] as! [String: Any]
            assertClose(s.dsc, e["dsc"], "\(name) case DSC")
            assertClose(s.nsd, e["nsd"], "\(name) case NSD")
            let labels = e["labels"] as! [[String: Any]]
            XCTAssertEqual(s.labels.map(\.label), labels.map { $0["label"] as! Int }, name)
            for (mine, ref) in zip(s.labels, labels) {
                assertClose(mine.dsc, ref["dsc"], "\(name) label \(mine.label) DSC")
                assertClose(mine.nsd, ref["nsd"], "\(name) label \(mine.label) NSD")
            }
        }
    }

    func assertClose(_ v: Double, _ ref: Any?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        if let r = ref as? Double {
            XCTAssertEqual(v, r, accuracy: 1e-4, what, file: file, line: line)
        } else {
            XCTAssertTrue(v.isNaN, "\(what): expected NaN, got \(v)", file: file, line: line)
        }
    }

    func testDistanceTransformIsExactAgainstBruteForce() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<30 {
            let shape = [Int.random(in: 1...7, using: &rng), Int.random(in: 1...9, using: &rng), Int.random(in: 1...9, using: &rng)]
            let spacing = [[1.0, 1.0, 1.0], [2.5, 0.8, 0.8], [0.5, 1.0, 3.0]][trial % 3]
            let n = shape.reduce(1, *)
            let density = [0.02, 0.2, 0.6][trial % 3]
            let sites = (0..<n).map { _ in Double.random(in: 0..<1, using: &rng) < density }
            let fast = DistanceTransform.squared(sites: sites, shape: shape, spacing: spacing)
            let slow = DistanceTransform.squaredBruteForce(sites: sites, shape: shape, spacing: spacing)
            for i in 0..<n {
                if slow[i].isInfinite { XCTAssertTrue(fast[i].isInfinite); continue }
                XCTAssertEqual(fast[i], slow[i], accuracy: 1e-9, "shape \(shape) spacing \(spacing) at \(i)")
            }
        }
    }

    /// Hand-worked: 2x2 squares overlapping in one column -> DSC 2*2/(4+4) = 0.5 per label;
    /// label 2 absent from both -> NaN for the label and for the case, whose NSD is then 0.
    func testHandWorkedDiceAndNaNRules() {
        var gt = [UInt16](repeating: 0, count: 16), pred = gt
        for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1)] { gt[y * 4 + x] = 1; pred[y * 4 + x + 1] = 1 }
        let one = Metrics.evaluate(pred: pred, gt: gt, shape: [4, 4], spacing: [], is3D: false)
        XCTAssertEqual(one.labels.map(\.dsc), [0.5])
        XCTAssertEqual(one.dsc, 0.5)
        gt[15] = 3; pred[15] = 3
        let nan = Metrics.evaluate(pred: pred, gt: gt, shape: [4, 4], spacing: [], is3D: false)
        XCTAssertEqual(nan.labels.map(\.label), [1, 2, 3])
        XCTAssertTrue(nan.labels[1].dsc.isNaN && nan.dsc.isNaN)
        XCTAssertEqual(nan.nsd, 0)
        let empty = Metrics.evaluate(pred: pred, gt: [UInt16](repeating: 0, count: 16), shape: [4, 4], spacing: [], is3D: false)
        XCTAssertTrue(empty.labels.isEmpty && empty.dsc.isNaN)
        XCTAssertEqual(empty.nsd, 0)
    }

    /// Hand-worked surfel areas: one voxel of spacing (2, 3, 5) is a box with faces 2*(15 + 10 + 6).
    func testSingleVoxelSurfaceAreaAndSelfDistance() {
        let d = SurfaceDistance.compute(shape: [1, 1, 1], lo: [0, 0, 0], hi: [0, 0, 0], spacing: [2, 3, 5],
                                        gt: { _ in true }, pred: { _ in true })
        // Marching cubes cuts the corners: 8 corner triangles approximate the box surface.
        XCTAssertEqual(d.areasGt.count, 8)
        XCTAssertTrue(d.distancesGtToPred.allSatisfy { $0 == 0 })
        XCTAssertEqual(d.surfaceDice(tolerance: 0), 1)
        let table = SurfaceDistance.areaTable(spacing: [1, 1, 1])
        XCTAssertEqual(table[0], 0)
        XCTAssertEqual(table[255], 0)
        XCTAssertEqual(table[1], (3 * 0.125 * 0.125).squareRoot(), accuracy: 1e-15)  // one corner triangle
    }
}
