import XCTest
@testable import SegEngine

/// 3D cases run as steps (StackSchedule) on several single-threaded workers (StackRunner):
/// the schedule against the official per-object chains, the runner's ordering, and the labels
/// against one object at a time on one thread.
final class StackTests: XCTestCase {
    /// The official protocol written out per object (as the MedSAM script loops): the middle
    /// slice with the box, up to the top each from the slice below, down to the bottom each
    /// from the slice above.
    func chains(_ boxes: [StackBox], depth: Int) -> [[Int?]] {
        var out: [[Int?]] = []
        for (i, b) in boxes.enumerated() {
            let z0 = max(0, b.z0), z1 = min(depth - 1, b.z1)
            guard z0 <= z1 else { continue }
            let zm = Int(Double(z1 - z0) / 2 + Double(z0))
            out.append([i, zm, nil])
            if zm < z1 { for z in (zm + 1)...z1 { out.append([i, z, z - 1]) } }
            for z in stride(from: zm - 1, through: z0, by: -1) { out.append([i, z, z + 1]) }
        }
        return out
    }

    func testPropagationSweepsDecodeEveryObjectsChainAfterTheMaskItNeeds() {
        var g = SplitMix(seed: 17)
        for trial in 0..<300 {
            let depth = 1 + Int(g.next() % 40), n = 1 + Int(g.next() % 7)
            let boxes = (0..<n).map { _ -> StackBox in
                let a = Int(g.next() % UInt64(depth + 8)) - 4, b = Int(g.next() % UInt64(depth + 8)) - 4
                return StackBox(box: [0, 0, 1, 1], z0: g.next() % 5 == 0 ? b : min(a, b), z1: max(a, b))
            }
            let steps = StackSchedule.propagate(boxes, depth: depth)
            var at: [[Int]: Int] = [:]   // [object, z] -> step index
            var triples: [[Int?]] = []
            for (k, s) in steps.enumerated() {
                XCTAssertFalse(s.items.isEmpty, "trial \(trial): empty step")
                XCTAssertEqual(s.items.map(\.object), s.items.map(\.object).sorted(), "trial \(trial): label order")
                for item in s.items {
                    XCTAssertNil(at[[item.object, s.z]], "trial \(trial): object \(item.object) twice on slice \(s.z)")
                    at[[item.object, s.z]] = k
                    triples.append([item.object, s.z, item.from])
                }
            }
            let want = chains(boxes, depth: depth)
            func key(_ t: [Int?]) -> String { t.map { $0.map(String.init) ?? "-" }.joined(separator: ",") }
            XCTAssertEqual(Set(triples.map(key)), Set(want.map(key)), "trial \(trial)")
            XCTAssertEqual(triples.count, want.count, "trial \(trial)")
            for (k, s) in steps.enumerated() {
                for item in s.items {
                    guard let f = item.from else { continue }
                    XCTAssertLessThan(at[[item.object, f]] ?? .max, k, "trial \(trial): object \(item.object) slice \(s.z) before slice \(f)")
                }
            }
        }
    }

    func testHandWorkedSweeps() {
        // Slices 2...6 (middle 4) and 0...3 (middle 1); a box outside the volume is skipped.
        let boxes = [StackBox(box: [0, 0, 1, 1], z0: 2, z1: 6), StackBox(box: [0, 0, 1, 1], z0: 0, z1: 3),
                     StackBox(box: [0, 0, 1, 1], z0: 9, z1: 12)]
        let steps = StackSchedule.propagate(boxes, depth: 8)
        typealias I = StackStep.Item
        XCTAssertEqual(steps, [
            StackStep(z: 1, items: [I(object: 1, from: nil)]), StackStep(z: 2, items: [I(object: 1, from: 1)]),
            StackStep(z: 3, items: [I(object: 1, from: 2)]), StackStep(z: 4, items: [I(object: 0, from: nil)]),
            StackStep(z: 5, items: [I(object: 0, from: 4)]), StackStep(z: 6, items: [I(object: 0, from: 5)]),
            StackStep(z: 3, items: [I(object: 0, from: 4)]), StackStep(z: 2, items: [I(object: 0, from: 3)]),
            StackStep(z: 0, items: [I(object: 1, from: 1)]),
        ])
        XCTAssertEqual(StackSchedule.perSlice(boxes, depth: 8).map(\.z), [0, 1, 2, 3, 4, 5, 6])
        XCTAssertEqual(StackSchedule.perSlice(boxes, depth: 8)[2].items, [I(object: 0, from: nil), I(object: 1, from: nil)])
        XCTAssertEqual(StackSchedule.propagate([boxes[2]], depth: 8), [])
    }

    /// Fake slices (embedding = [z]) through the runner: ordered decodes one at a time in step
    /// order, each with its own slice; a slice needed again within the look-ahead is encoded
    /// once, one needed again later is encoded again (the Segmenter's cache serves that case).
    func testRunnerDecodesInStepOrderWithItsOwnSlices() {
        let zs = [3, 4, 5, 6, 5, 4, 3, 2]
        for (workers, ordered) in [(1, true), (2, true), (3, true), (2, false)] {
            let m = Monitor()
            var decoded: [Int] = [], encodes: [Int: Int] = [:], inDecode = 0, overlap = false
            StackRunner.run(zs: zs, ordered: ordered, workers: workers, lookahead: 3, cached: { _ in false }, encode: { z in
                usleep(2000)
                m.lock(); encodes[z, default: 0] += 1; m.unlock()
                return EncodedSlice(embedding: Tensor(shape: [1], data: [Float(z)]),
                                    pre: PreprocessedGeometry(newHeight: 1, newWidth: 1, originalHeight: 1, originalWidth: 1))
            }, decode: { k, slice in
                m.lock(); inDecode += 1; if inDecode > 1 { overlap = true }; m.unlock()
                usleep(1000)
                XCTAssertEqual(slice.embedding.data, [Float(zs[k])], "step \(k)")
                m.lock(); inDecode -= 1; decoded.append(k); m.unlock()
            })
            XCTAssertEqual(decoded.sorted(), Array(zs.indices), "workers \(workers)")
            if ordered {
                XCTAssertEqual(decoded, Array(zs.indices), "workers \(workers)")
                XCTAssertFalse(overlap, "workers \(workers): ordered decodes overlapped")
                XCTAssertEqual(encodes, [3: 2, 4: 2, 5: 1, 6: 1, 2: 1], "workers \(workers)")
            }
        }
    }

    /// Once `stop` answers true (here after the 4th decode), no encode or decode starts: those
    /// already running finish, and `run` returns with the later steps undone. (Another worker
    /// may have asked just before the stop and start one more.)
    func testRunnerStopsStartingWorkWhenAsked() {
        let zs = Array(0..<30)
        for (workers, ordered) in [(1, true), (2, true), (2, false)] {
            let m = Monitor()
            var decoded: [Int] = [], startedAfterStop = 0, stopped = false
            StackRunner.run(zs: zs, ordered: ordered, workers: workers, lookahead: 4, cached: { _ in false }, encode: { z in
                m.lock(); if stopped { startedAfterStop += 1 }; m.unlock()
                usleep(1500)
                return EncodedSlice(embedding: Tensor(shape: [1], data: [Float(z)]),
                                    pre: PreprocessedGeometry(newHeight: 1, newWidth: 1, originalHeight: 1, originalWidth: 1))
            }, decode: { k, _ in
                m.lock(); if stopped { startedAfterStop += 1 }; m.unlock()
                usleep(1000)
                m.lock(); decoded.append(k); if decoded.count == 4 { stopped = true }; m.unlock()
            }, stop: { m.lock(); defer { m.unlock() }; return stopped })
            XCTAssertGreaterThanOrEqual(decoded.count, 4, "workers \(workers)")
            XCTAssertLessThanOrEqual(decoded.count, 4 + workers - 1, "workers \(workers): decodes after the stop")
            XCTAssertLessThanOrEqual(startedAfterStop, workers - 1, "workers \(workers): work started after the stop")
        }
    }

    /// Slices the cache holds are not encoded ahead (nor held): each is fetched once, when its
    /// step comes, while free workers encode the first uncached slices past them.
    func testRunnerEncodesAheadPastCachedSlices() {
        let zs = Array(0..<12), cachedSlices = Set(0..<8)
        for workers in [1, 2] {
            let m = Monitor()
            var fetched: [Int] = [], decoded: [Int] = []
            StackRunner.run(zs: zs, ordered: true, workers: workers, lookahead: 2, cached: { cachedSlices.contains($0) }, encode: { z in
                m.lock()
                fetched.append(z)
                m.unlock()
                usleep(cachedSlices.contains(z) ? 100 : 3000)
                return EncodedSlice(embedding: Tensor(shape: [1], data: [Float(z)]),
                                    pre: PreprocessedGeometry(newHeight: 1, newWidth: 1, originalHeight: 1, originalWidth: 1))
            }, decode: { k, slice in
                XCTAssertEqual(slice.embedding.data, [Float(zs[k])], "step \(k)")
                usleep(2000)
                m.lock(); decoded.append(k); m.unlock()
            })
            XCTAssertEqual(decoded, zs, "workers \(workers)")
            XCTAssertEqual(fetched.sorted(), zs, "workers \(workers): every slice fetched once")
        }
    }

    /// Several objects on a few slices: the workers' label map equals each object propagated
    /// alone on one thread, combined with later objects over earlier ones.
    func testWorkersGiveTheLabelsOfOneObjectAtATimeOnOneThread() throws {
        let model = try ModelFixtures.int8Model()
        let c = (try ModelFixtures.manifest["cases"] as! [[String: Any]])[0]
        let shape = c["image_shape"] as! [Int]
        let base = try ModelFixtures.bytes(c["image"] as! String)
        let (h, w) = (shape[0], shape[1])
        // Slice z: the image shifted down by z rows, so each slice differs.
        func slice(_ z: Int) -> ImageU8 {
            ImageU8(height: h, width: w, channels: 1, pixels: (0..<(h * w)).map { base[((($0 / w) + h - z) % h) * w + $0 % w] })
        }
        let b = (c["boxes"] as! [[Int]]).map { $0.map(Double.init) }
        // Object 2 (the box of object 1, slices 1-2) runs in the up sweep, object 1 on those
        // slices in the down sweep after it, and must still lie under it.
        let boxes = [StackBox(box: b[0], z0: 0, z1: 4), StackBox(box: b[0], z0: 1, z1: 2), StackBox(box: b[1], z0: 2, z1: 4)]
        let saved = Parallel.threads
        defer { Engine.configure(threads: saved) }

        Engine.configure(threads: 1)
        let one = Segmenter(model: model)
        var want = [UInt16](repeating: 0, count: 5 * h * w)
        for (i, box) in boxes.enumerated() {
            let l = one.segment3D(depth: 5, height: h, width: w, slice: slice, boxes: [box], strategy: .propagate)
            for p in want.indices where l[p] != 0 { want[p] = UInt16(i + 1) }
        }
        XCTAssertEqual(one.slicesEncoded, 5)

        Engine.configure(threads: 2)
        let two = Segmenter(model: model)
        var progress: [Int] = [], last = StackProgress()
        let got = two.segment3D(depth: 5, height: h, width: w, slice: slice, boxes: boxes, strategy: .propagate) { p in
            XCTAssertEqual(p.total, 5 + 2 + 3)
            XCTAssertEqual(p.toEncode, 5)
            progress.append(p.done)
            last = p
        }
        // Each slice encoded once, for all its objects, with the time each kind took.
        XCTAssertEqual(last.encoded, 5)
        XCTAssertGreaterThan(last.encodeSeconds, 0)
        XCTAssertGreaterThan(last.decodeSeconds, 0)
        XCTAssertNil(last.secondsLeft(elapsed: 3), "nothing is left once all are done")
        XCTAssertEqual(got.count, want.count)
        XCTAssertEqual(zip(got, want).filter { $0 != $1 }.count, 0, "voxels whose label differs")
        XCTAssertEqual(progress.last, 10)
        XCTAssertEqual(progress, progress.sorted())
        XCTAssertEqual(two.slicesEncoded, 5)
        XCTAssertTrue(Set(want).isSuperset(of: [1, 2, 3]), "every object should show")
    }
}

#if canImport(Glibc)
import Glibc
#endif
