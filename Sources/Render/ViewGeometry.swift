// Where an image sits in a viewport of cells. Each cell shows two samples stacked vertically
// (an upper half block: fg = top, bg = bottom); with cellAspect 2 (cells twice as tall as wide)
// each half-cell is square, so the image keeps its physical aspect from the pixel spacing.

public struct ViewGeometry: Equatable, Sendable {
    public let imageWidth: Int, imageHeight: Int
    public let spacingX: Double, spacingY: Double
    public let cols: Int, rows: Int
    public var zoom: Double
    public var centerX: Double, centerY: Double
    public let cellAspect: Double

    public init(imageWidth: Int, imageHeight: Int, spacingX: Double = 1, spacingY: Double = 1, cols: Int, rows: Int,
                zoom: Double = 1, centerX: Double? = nil, centerY: Double? = nil, cellAspect: Double = 2) {
        self.imageWidth = max(1, imageWidth)
        self.imageHeight = max(1, imageHeight)
        self.spacingX = spacingX > 0 && spacingX.isFinite ? spacingX : 1
        self.spacingY = spacingY > 0 && spacingY.isFinite ? spacingY : 1
        self.cols = max(1, cols)
        self.rows = max(1, rows)
        self.zoom = max(zoom, 1e-3)
        self.centerX = centerX ?? Double(self.imageWidth) / 2
        self.centerY = centerY ?? Double(self.imageHeight) / 2
        self.cellAspect = cellAspect > 0 ? cellAspect : 2
    }

    /// Millimetres per half-cell width.
    private var mmPerUnit: Double {
        let fit = max(Double(imageWidth) * spacingX / Double(cols), Double(imageHeight) * spacingY / (Double(rows) * cellAspect))
        return fit / zoom
    }

    public var pixelsPerHalfCellX: Double { mmPerUnit / spacingX }
    public var pixelsPerHalfCellY: Double { mmPerUnit * cellAspect / 2 / spacingY }

    /// Continuous image x at the left edge of column `col` (y likewise for half-rows).
    @inline(__always) func imageX(_ col: Double) -> Double { centerX + (col - Double(cols) / 2) * pixelsPerHalfCellX }
    @inline(__always) func imageY(_ halfRow: Double) -> Double { centerY + (halfRow - Double(rows)) * pixelsPerHalfCellY }

    public func pixel(col: Int, halfRow: Int) -> (x: Int, y: Int)? {
        guard col >= 0, col < cols, halfRow >= 0, halfRow < 2 * rows else { return nil }
        let x = Int(imageX(Double(col) + 0.5).rounded(.down)), y = Int(imageY(Double(halfRow) + 0.5).rounded(.down))
        guard x >= 0, x < imageWidth, y >= 0, y < imageHeight else { return nil }
        return (x, y)
    }

    /// The pixel nearest a cell anywhere on the screen: the cell is first brought inside the
    /// view, then the point inside the image (a drag released past the image's edge ends on it).
    public func nearestPixel(col: Int, halfRow: Int) -> (x: Int, y: Int) {
        let c = max(0, min(cols - 1, col)), r = max(0, min(2 * rows - 1, halfRow))
        let x = Int(imageX(Double(c) + 0.5).rounded(.down)), y = Int(imageY(Double(r) + 0.5).rounded(.down))
        return (max(0, min(imageWidth - 1, x)), max(0, min(imageHeight - 1, y)))
    }

    public func halfCell(x: Int, y: Int) -> (col: Int, halfRow: Int) {
        let c = (Double(x) + 0.5 - centerX) / pixelsPerHalfCellX + Double(cols) / 2
        let r = (Double(y) + 0.5 - centerY) / pixelsPerHalfCellY + Double(rows)
        return (Int(c.rounded(.down)), Int(r.rounded(.down)))
    }

    /// Pixel range [lo, hi) a column covers (clipped; empty outside the image). Downscaling
    /// averages the range; upscaling gives the one pixel under the column's centre.
    func columnRange(_ col: Int) -> Range<Int> {
        span(imageX(Double(col)), imageX(Double(col + 1)), imageX(Double(col) + 0.5), pixelsPerHalfCellX, imageWidth)
    }

    func rowRange(_ halfRow: Int) -> Range<Int> {
        span(imageY(Double(halfRow)), imageY(Double(halfRow + 1)), imageY(Double(halfRow) + 0.5), pixelsPerHalfCellY, imageHeight)
    }

    private func span(_ a: Double, _ b: Double, _ mid: Double, _ step: Double, _ n: Int) -> Range<Int> {
        if step <= 1 {
            let p = Int(mid.rounded(.down))
            return p >= 0 && p < n ? p..<(p + 1) : 0..<0
        }
        let lo = max(0, Int(a.rounded())), hi = min(n, Int(b.rounded()))
        return lo < hi ? lo..<hi : 0..<0
    }
}
