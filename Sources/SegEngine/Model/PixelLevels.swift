// The distinct pixels of an encoder input. A grayscale slice (every CT or MR slice, X-ray,
// ultrasound) is min-max normalised from 8-bit levels, so its 65,536 pixels hold at most 256
// distinct values. The patch embedding and the first MBConv's expanding product (with its GELU)
// act on each pixel alone, so they are computed once per distinct pixel and looked up
// (docs/DECISIONS.md, "The stem looks up what it computes per pixel").

/// An image's pixels as indices into a table of its distinct pixels.
struct PixelLevels {
    /// [count, C]: each distinct pixel once, in order of first appearance.
    let levels: Tensor
    /// [H * W], row-major: the row of `levels` each pixel holds.
    let index: [Int32]

    var count: Int { levels.shape[0] }

    /// The distinct pixels of an [H, W, C] image, or nil when there are more than `limit`
    /// (a photograph or a noise image, where a table would save little).
    init?(of image: Tensor, limit: Int = 4096) {
        let (h, w, c) = (image.shape[0], image.shape[1], image.shape[2])
        let n = h * w
        // Open addressing on the pixel's bit patterns, at most half full.
        var slots = 1
        while slots < 2 * limit { slots <<= 1 }
        let mask = slots - 1
        var slot = [Int32](repeating: -1, count: slots)
        var first: [Int32] = []   // the first pixel holding each distinct value
        first.reserveCapacity(256)
        var index = [Int32](repeating: 0, count: n)
        let ok = image.data.withUnsafeBufferPointer { xp -> Bool in
            let x = xp.baseAddress!
            @inline(__always) func same(_ p: Int, _ q: Int) -> Bool {
                for k in 0..<c where x[p * c + k].bitPattern != x[q * c + k].bitPattern { return false }
                return true
            }
            return index.withUnsafeMutableBufferPointer { ip in
                slot.withUnsafeMutableBufferPointer { sp in
                    var previous = -1   // neighbouring pixels often repeat: skip the hash then
                    for p in 0..<n {
                        if previous >= 0, same(p, previous) { ip[p] = ip[previous]; previous = p; continue }
                        var hash: UInt32 = 2_166_136_261
                        for k in 0..<c { hash = (hash ^ x[p * c + k].bitPattern) &* 16_777_619 }
                        var s = Int(hash ^ (hash >> 15)) & mask
                        while true {
                            let e = Int(sp[s])
                            if e < 0 {
                                guard first.count < limit else { return false }
                                sp[s] = Int32(first.count)
                                ip[p] = Int32(first.count)
                                first.append(Int32(p))
                                break
                            }
                            if same(p, Int(first[e])) { ip[p] = Int32(e); break }
                            s = (s + 1) & mask
                        }
                        previous = p
                    }
                    return true
                }
            }
        }
        guard ok else { return nil }
        var levels = Tensor(uninitialized: [first.count, c])
        image.data.withUnsafeBufferPointer { x in
            levels.data.withUnsafeMutableBufferPointer { l in
                for (i, p) in first.enumerated() { for k in 0..<c { l[i * c + k] = x[Int(p) * c + k] } }
            }
        }
        self.levels = levels
        self.index = index
    }

    /// The [H, W, K] map whose pixel p is row index[p] of `table` ([count, K]).
    func expand(_ table: Tensor, height h: Int, width w: Int) -> Tensor {
        precondition(table.shape[0] == count && index.count == h * w)
        let k = table.shape[1]
        var out = Tensor(uninitialized: [h, w, k])
        table.data.withUnsafeBufferPointer { t in
            out.data.withUnsafeMutableBufferPointer { o in
                index.withUnsafeBufferPointer { ix in
                    for p in 0..<(h * w) { (o.baseAddress! + p * k).update(from: t.baseAddress! + Int(ix[p]) * k, count: k) }
                }
            }
        }
        return out
    }
}
