// Pixels of a feature map that all hold one known value, so the stem need not compute them: an
// image's zero background (below the min-max normalisation's minimum: air in windowed CT, the
// empty field around an MR head) and the zero padding of a non-square slice. TinyViT's stem is
// pointwise products and 3x3 depthwise convolutions, so a pixel whose 3x3 neighbourhood holds a
// zero image's features comes out with the zero image's features (docs/DECISIONS.md, "The stem
// skips uniform background").

/// A map's pixels that hold the value the stem gives a zero image there, away from the borders.
struct UniformMap: Equatable {
    let height: Int, width: Int
    /// [height * width], row-major: true where the pixel holds the shared value.
    let uniform: [Bool]

    init(height: Int, width: Int, uniform: [Bool]) {
        precondition(uniform.count == height * width)
        (self.height, self.width, self.uniform) = (height, width, uniform)
    }

    /// The pixels of an [H, W, C] image whose channels are all exactly zero.
    init(zerosOf image: Tensor) {
        let (h, w, c) = (image.shape[0], image.shape[1], image.shape[2])
        let zeros = image.data.withUnsafeBufferPointer { x in
            [Bool](unsafeUninitializedCapacity: h * w) { out, n in
                for p in 0..<(h * w) {
                    var all = true
                    for k in 0..<c where x[p * c + k] != 0 { all = false }
                    out[p] = all
                }
                n = h * w
            }
        }
        self.init(height: h, width: w, uniform: zeros)
    }

    var fraction: Double { Double(uniform.lazy.filter { $0 }.count) / Double(max(1, uniform.count)) }

    /// The output pixels of a 3x3 convolution (padding 1) with `stride` whose nine taps all fall
    /// on uniform pixels inside the map (the zero padding outside differs from the shared value).
    func throughConv3x3(stride s: Int) -> UniformMap {
        let ho = (height - 1) / s + 1, wo = (width - 1) / s + 1, w = width
        // Rows of three uniform pixels around each output column, then three such rows.
        var across = [Bool](repeating: false, count: height * wo)
        var out = [Bool](repeating: false, count: ho * wo)
        uniform.withUnsafeBufferPointer { u in
            across.withUnsafeMutableBufferPointer { a in
                for y in 0..<height { for ox in 0..<wo {
                    let x0 = ox * s - 1
                    a[y * wo + ox] = x0 >= 0 && x0 + 2 < w && u[y * w + x0] && u[y * w + x0 + 1] && u[y * w + x0 + 2]
                } }
            }
        }
        across.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { o in
                for oy in 0..<ho {
                    let y0 = oy * s - 1
                    guard y0 >= 0 && y0 + 2 < height else { continue }
                    for ox in 0..<wo { o[oy * wo + ox] = a[y0 * wo + ox] && a[(y0 + 1) * wo + ox] && a[(y0 + 2) * wo + ox] }
                }
            }
        }
        return UniformMap(height: ho, width: wo, uniform: out)
    }

    /// Which pixels of an `inHeight` x `inWidth` map (a 3x3 convolution's input, padding 1) the
    /// output pixels marked in `computed` (`outWidth` wide) read.
    static func read(by computed: [Bool], outWidth wo: Int, stride s: Int, inHeight h: Int, inWidth w: Int) -> [Bool] {
        let ho = computed.count / wo
        // Each input row's columns read by the marked outputs of one output row, then the input
        // rows each output row reads.
        var cols = [Bool](repeating: false, count: ho * w), need = [Bool](repeating: false, count: h * w)
        computed.withUnsafeBufferPointer { c in
            cols.withUnsafeMutableBufferPointer { k in
                for oy in 0..<ho { for ox in 0..<wo where c[oy * wo + ox] {
                    for x in max(0, ox * s - 1)...min(w - 1, ox * s + 1) { k[oy * w + x] = true }
                } }
            }
        }
        cols.withUnsafeBufferPointer { k in
            need.withUnsafeMutableBufferPointer { n in
                for oy in 0..<ho { for y in max(0, oy * s - 1)...min(h - 1, oy * s + 1) {
                    for x in 0..<w where k[oy * w + x] { n[y * w + x] = true }
                } }
            }
        }
        return need
    }

    /// The runs of pixels in row `y` of a `width`-wide map where `compute` is true, joined across
    /// gaps of fewer than `gap` pixels (a few extra pixels cost less than another product call).
    static func runs(_ compute: [Bool], row y: Int, width: Int, gap: Int = 8) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var x = 0
        let base = y * width
        while x < width {
            guard compute[base + x] else { x += 1; continue }
            var end = x + 1
            while end < width && compute[base + end] { end += 1 }
            if let last = runs.last, x - last.upperBound < gap { runs[runs.count - 1] = last.lowerBound..<end } else { runs.append(x..<end) }
            x = end
        }
        return runs
    }
}
