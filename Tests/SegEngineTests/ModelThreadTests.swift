import Foundation
import XCTest
import CDnnl
@testable import SegEngine

/// oneDNN fixes a product's kernel and blocking when its primitive is built (at model load, or
/// at first use for the attention's shapes), for the OpenMP thread count of the building
/// thread, while the engine runs every product single-threaded. A model built and first run on
/// a thread whose OpenMP default is several threads (the workbench's engine thread) must
/// compute what one built on the command line's main thread computes.
final class ModelThreadTests: XCTestCase {
    func testModelsBuiltOnThreadsWithDifferentOpenMPDefaultsComputeTheSame() throws {
        let path = try ModelFixtures.modelPath()
        // A slice of the demo MR (background, few gray levels: the encoder's shortcuts apply).
        let img = try ModelFixtures.demoSlice(103)
        let pre = Preprocess.image(img)
        let input = Tensor(shape: [256, 256, 3], data: pre.tensor)
        var outputs: [[Float]] = []
        for ompThreads: Int32 in [1, 2, 4] {
            nonisolated(unsafe) var result: Result<[Float], Error>?
            let done = DispatchSemaphore(value: 0)
            let t = Thread {
                omp_set_num_threads(ompThreads)
                result = Result {
                    let model = try LiteMedSAM(checkpointPath: path, precision: .int8)
                    var out: [Float] = []
                    Parallel.alone {
                        let e = model.embed(input)
                        out = e.data + model.decode(model.maskDecoder.context(for: e), boxes: [[40, 60, 150, 170]]).data
                            + model.decode(model.maskDecoder.context(for: e), boxes: [[40, 60, 150, 170]], within: (pre.newHeight, pre.newWidth)).data
                    }
                    return out
                }
                done.signal()
            }
            t.stackSize = 16 << 20
            t.start()
            done.wait()
            outputs.append(try XCTUnwrap(result).get())
        }
        for (i, n) in [2, 4].enumerated() {
            XCTAssertEqual(zip(outputs[0], outputs[i + 1]).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                           "embedding and logit values that differ between models built with 1 and with \(n) OpenMP threads")
        }
    }
}
