// TinyViT's window partition without its padding tokens (docs/DECISIONS.md, "Window attention
// without padded tokens"). PyTorch pads the [H, W, C] map with zeros up to whole windows before
// the attention's LayerNorm, so every padding token of a window has the same key and value; only
// their position biases differ. Their softmax terms sum to one term with the same key and value
// and the bias log(sum of exp(bias)) over the padding positions: exact algebra, so each padded
// window keeps its real tokens plus one padding row instead of up to ws*ws - 1 padding tokens.
#if canImport(Glibc)
import Glibc
#endif

/// Where each window's tokens sit in the compact windowed layout: windows one after another,
/// each its real tokens in row-major order, then (if the window reaches past the map) one zero
/// row standing for all its padding. Whole windows come first (`whole` of them, all ws*ws rows,
/// so they can be batched), then the padded ones; each group in row-major window order.
struct WindowLayout {
    struct Window {
        let y0, x0: Int      // top-left pixel in the map
        let rh, rw: Int      // real rows and columns (the rest of the ws x ws window is padding)
        let offset: Int      // first row in the compact layout
        let padded: Bool
        var real: Int { rh * rw }
        /// Rows in the compact layout: the real tokens, plus the padding row.
        var rows: Int { real + (padded ? 1 : 0) }
        /// The map pixel (row-major, in a map `width` wide) of token i; nil for the padding row.
        @inline(__always) func pixel(_ i: Int, width: Int) -> Int? { i < real ? (y0 + i / rw) * width + x0 + i % rw : nil }
    }

    let height, width, size: Int
    let windows: [Window]
    let whole: Int
    let rows: Int

    init(height h: Int, width w: Int, size ws: Int) {
        precondition(h > 0 && w > 0 && ws > 0)
        var shapes: [(y0: Int, x0: Int, rh: Int, rw: Int)] = []
        for wy in 0..<((h + ws - 1) / ws) {
            for wx in 0..<((w + ws - 1) / ws) {
                shapes.append((wy * ws, wx * ws, min(ws, h - wy * ws), min(ws, w - wx * ws)))
            }
        }
        let ordered = shapes.filter { $0.rh * $0.rw == ws * ws } + shapes.filter { $0.rh * $0.rw < ws * ws }
        var list: [Window] = [], offset = 0
        for s in ordered {
            let win = Window(y0: s.y0, x0: s.x0, rh: s.rh, rw: s.rw, offset: offset, padded: s.rh * s.rw < ws * ws)
            list.append(win)
            offset += win.rows
        }
        (height, width, size, windows, rows) = (h, w, ws, list, offset)
        whole = list.filter { !$0.padded }.count
    }
}

/// One attention layer's position biases for every window shape of a layout: for a window of
/// n = rows tokens, [heads][n][n] with the padding row's bias column collapsed (see above) and
/// the padding row's own biases zero (its output is discarded). Immutable once built.
final class WindowBiases: @unchecked Sendable {
    let layout: WindowLayout
    private let storage: UnsafeMutablePointer<Float>
    private let start: [Int]   // where each window's matrix starts in `storage`

    /// table: attention_biases [heads][ws*ws], indexed by |dy| * ws + |dx|.
    init(table: [Float], heads: Int, layout: WindowLayout) {
        let ws = layout.size, nn = ws * ws
        var shapes: [[Int]: Int] = [:], matrices: [[Float]] = [], index: [Int] = []
        for win in layout.windows {
            let key = [win.rh, win.rw]
            if let i = shapes[key] { index.append(i); continue }
            let n = win.rows, (rh, rw) = (win.rh, win.rw)
            var m = [Float](repeating: 0, count: heads * n * n)
            for h in 0..<heads {
                let t = h * nn
                for i in 0..<win.real {
                    let (yi, xi) = (i / rw, i % rw)
                    let row = (h * n + i) * n
                    for j in 0..<win.real {
                        m[row + j] = table[t + abs(yi - j / rw) * ws + abs(xi - j % rw)]
                    }
                    if win.padded {
                        var sum = 0.0, top = -Double.infinity
                        var values: [Double] = []
                        for y in 0..<ws { for x in 0..<ws where y >= rh || x >= rw {
                            let b = Double(table[t + abs(yi - y) * ws + abs(xi - x)])
                            values.append(b); top = max(top, b)
                        } }
                        for b in values { sum += exp(b - top) }
                        m[row + win.real] = Float(top + log(sum))
                    }
                }
            }
            shapes[key] = matrices.count
            index.append(matrices.count)
            matrices.append(m)
        }
        let offsets = matrices.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        storage = .allocate(capacity: max(1, offsets.last!))
        for (m, o) in zip(matrices, offsets) { (storage + o).initialize(from: m, count: m.count) }
        self.layout = layout
        start = index.map { offsets[$0] }
    }

    deinit { storage.deallocate() }

    /// Window `i`'s bias matrix [heads][rows][rows], valid while this object lives.
    func bias(window i: Int) -> UnsafePointer<Float> { UnsafePointer(storage + start[i]) }
}
