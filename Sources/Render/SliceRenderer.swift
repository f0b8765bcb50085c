// A slice with label overlays, box outlines and a cursor, drawn into a CellGrid.

public struct SliceImage: Sendable {
    public let width: Int, height: Int
    public let channels: Int
    public let pixels: [UInt8]
    public init(width: Int, height: Int, channels: Int = 1, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "SliceImage: \(pixels.count) values for \(width)x\(height)x\(channels)")
        (self.width, self.height, self.channels, self.pixels) = (width, height, channels, pixels)
    }
}

public struct LabelOverlay: Sendable {
    public enum Style: Sendable { case fill(alpha: Double), contour }
    public let labels: [UInt16]
    public let style: Style
    public let colorOf: @Sendable (UInt16) -> RGB
    public init(labels: [UInt16], style: Style, colorOf: @escaping @Sendable (UInt16) -> RGB = { Palette.label(Int($0)) }) {
        (self.labels, self.style, self.colorOf) = (labels, style, colorOf)
    }
}

public struct BoxOutline: Sendable {
    public let x0, y0, x1, y1: Int
    public let color: RGB
    public let dashed: Bool
    public init(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB, dashed: Bool = false) {
        (self.x0, self.y0, self.x1, self.y1, self.color, self.dashed) = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), color, dashed)
    }
}

public enum SliceRenderer {
    public static let cursorColor = RGB(0, 255, 255)

    /// Image samples are box-filtered when a half-cell covers several pixels (nearest when
    /// magnified); labels take the pixel under the half-cell's centre; contours are drawn on
    /// the sample grid (a labelled sample with a differently labelled 4-neighbour).
    public static func draw(_ image: SliceImage, geometry g: ViewGeometry, overlays: [LabelOverlay], boxes: [BoxOutline],
                            cursor: (x: Int, y: Int)?, mode: ColorMode, into grid: inout CellGrid, originCol: Int, originRow: Int) {
        let sw = g.cols, sh = 2 * g.rows
        let colRanges = (0..<sw).map { g.columnRange($0) }
        let rowRanges = (0..<sh).map { g.rowRange($0) }
        let centreX = (0..<sw).map { c -> Int in let r = colRanges[c]; return r.isEmpty ? -1 : (r.lowerBound + r.upperBound - 1) / 2 }
        let centreY = (0..<sh).map { r -> Int in let q = rowRanges[r]; return q.isEmpty ? -1 : (q.lowerBound + q.upperBound - 1) / 2 }
        var samples = [RGB](repeating: RGB(0, 0, 0), count: sw * sh)
        let ch = image.channels, w = image.width
        image.pixels.withUnsafeBufferPointer { px in
            for r in 0..<sh {
                let yr = rowRanges[r]
                if yr.isEmpty { continue }
                for c in 0..<sw {
                    let xr = colRanges[c]
                    if xr.isEmpty { continue }
                    var acc = (0, 0, 0)
                    for y in yr {
                        var i = (y * w + xr.lowerBound) * ch
                        for _ in xr {
                            if ch == 1 { let v = Int(px[i]); acc.0 += v } else { acc.0 += Int(px[i]); acc.1 += Int(px[i + 1]); acc.2 += Int(px[i + 2]) }
                            i += ch
                        }
                    }
                    let n = yr.count * xr.count
                    samples[r * sw + c] = ch == 1 ? RGB(UInt8(acc.0 / n), UInt8(acc.0 / n), UInt8(acc.0 / n))
                        : RGB(UInt8(acc.0 / n), UInt8(acc.1 / n), UInt8(acc.2 / n))
                }
            }
        }
        for o in overlays where o.labels.count == image.width * image.height {
            var lab = [UInt16](repeating: 0, count: sw * sh)
            for r in 0..<sh where centreY[r] >= 0 {
                for c in 0..<sw where centreX[c] >= 0 { lab[r * sw + c] = o.labels[centreY[r] * w + centreX[c]] }
            }
            for r in 0..<sh { for c in 0..<sw {
                let l = lab[r * sw + c]
                if l == 0 { continue }
                switch o.style {
                case .fill(let alpha):
                    samples[r * sw + c] = blend(samples[r * sw + c], o.colorOf(l), alpha)
                case .contour:
                    let edge = c == 0 || c == sw - 1 || r == 0 || r == sh - 1
                        || lab[r * sw + c - 1] != l || lab[r * sw + c + 1] != l || lab[(r - 1) * sw + c] != l || lab[(r + 1) * sw + c] != l
                    if edge { samples[r * sw + c] = o.colorOf(l) }
                }
            } }
        }
        for b in boxes {
            let a = g.halfCell(x: b.x0, y: b.y0), z = g.halfCell(x: b.x1, y: b.y1)
            var k = 0
            func dot(_ c: Int, _ r: Int) {
                defer { k += 1 }
                if b.dashed && (k / 2) % 2 == 1 { return }
                if c >= 0 && c < sw && r >= 0 && r < sh { samples[r * sw + c] = b.color }
            }
            for c in a.col...max(a.col, z.col) { dot(c, a.halfRow) }
            for r in a.halfRow...max(a.halfRow, z.halfRow) { dot(z.col, r) }
            for c in stride(from: z.col, through: a.col, by: -1) { dot(c, z.halfRow) }
            for r in stride(from: z.halfRow, through: a.halfRow, by: -1) { dot(a.col, r) }
        }
        if let cur = cursor {
            let h = g.halfCell(x: cur.x, y: cur.y)
            if h.col >= 0 && h.col < sw && h.halfRow >= 0 && h.halfRow < sh { samples[h.halfRow * sw + h.col] = cursorColor }
        }
        let shades: [Character] = [" ", "\u{2591}", "\u{2592}", "\u{2593}", "\u{2588}"]
        for row in 0..<g.rows { for c in 0..<sw {
            let top = samples[(2 * row) * sw + c], bottom = samples[(2 * row + 1) * sw + c]
            let cell: Cell
            if mode == .color16 && top.r == top.g && top.g == top.b && bottom.r == bottom.g && bottom.g == bottom.b {
                let level = (Int(top.r) + Int(bottom.r)) / 2
                cell = Cell(glyph: shades[min(4, (level * 5) / 256)], fg: RGB(229, 229, 229), bg: RGB(0, 0, 0))
            } else {
                cell = Cell(glyph: "\u{2580}", fg: top, bg: bottom)
            }
            grid[originCol + c, originRow + row] = cell
        } }
    }

    @inline(__always) static func blend(_ a: RGB, _ b: RGB, _ alpha: Double) -> RGB {
        func m(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8(max(0, min(255, (1 - alpha) * Double(x) + alpha * Double(y))).rounded()) }
        return RGB(m(a.r, b.r), m(a.g, b.g), m(a.b, b.b))
    }
}

/// Frame time of the renderer (not a test): a synthetic 512x512 slice with one overlay into 200x60.
public enum RenderBench {
    public static func frameMilliseconds(runs: Int) -> Double {
        let n = 512
        var px = [UInt8](repeating: 0, count: n * n), labels = [UInt16](repeating: 0, count: n * n)
        for y in 0..<n { for x in 0..<n {
            px[y * n + x] = UInt8((x ^ y) & 255)
            let (dx, dy) = (x - 256, y - 256)
            if dx * dx + dy * dy < 100 * 100 { labels[y * n + x] = 1 }
        } }
        let image = SliceImage(width: n, height: n, pixels: px)
        let overlay = LabelOverlay(labels: labels, style: .fill(alpha: 0.45))
        let g = ViewGeometry(imageWidth: n, imageHeight: n, cols: 200, rows: 60)
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            var grid = CellGrid(width: 200, height: 60)
            let t0 = ContinuousClock.now
            SliceRenderer.draw(image, geometry: g, overlays: [overlay], boxes: [BoxOutline(x0: 150, y0: 150, x1: 350, y1: 350, color: RGB(255, 255, 0))],
                 cursor: (256, 256), mode: .trueColor, into: &grid, originCol: 0, originRow: 0)
            _ = ANSI.frame(grid, previous: nil, mode: .trueColor)
            let d = ContinuousClock.now - t0
            times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        return times.sorted()[times.count / 2]
    }
}
