// The screen as values: cells with a glyph and two colours. Drawing fills a CellGrid; only
// ANSI.swift turns one into bytes, so screens are tested as text without a terminal.

public struct RGB: Hashable, Sendable {
    public var r, g, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { (self.r, self.g, self.b) = (r, g, b) }
}

public struct Cell: Hashable, Sendable {
    public var glyph: Character
    public var fg: RGB
    public var bg: RGB
    public var bold: Bool
    public init(glyph: Character = " ", fg: RGB = RGB(255, 255, 255), bg: RGB = RGB(0, 0, 0), bold: Bool = false) {
        (self.glyph, self.fg, self.bg, self.bold) = (glyph, fg, bg, bold)
    }
}

public struct CellGrid: Equatable, Sendable {
    public let width: Int, height: Int
    public var cells: [Cell]

    public init(width: Int, height: Int, fill: Cell = Cell()) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = [Cell](repeating: fill, count: self.width * self.height)
    }

    public subscript(col: Int, row: Int) -> Cell {
        get { col >= 0 && col < width && row >= 0 && row < height ? cells[row * width + col] : Cell() }
        set { if col >= 0 && col < width && row >= 0 && row < height { cells[row * width + col] = newValue } }
    }

    /// Writes text from (col, row), one Character per cell, clipped to the grid and to maxWidth.
    public mutating func put(_ text: String, col: Int, row: Int, fg: RGB, bg: RGB, bold: Bool = false, maxWidth: Int? = nil) {
        guard row >= 0 && row < height else { return }
        var c = col
        let limit = maxWidth.map { col + $0 } ?? width
        for ch in text {
            if c >= min(width, limit) { break }
            if c >= 0 { cells[row * width + c] = Cell(glyph: ch, fg: fg, bg: bg, bold: bold) }
            c += 1
        }
    }

    public mutating func fill(cols: Range<Int>, rows: Range<Int>, with cell: Cell) {
        for r in max(0, rows.lowerBound)..<min(height, max(rows.upperBound, 0)) {
            for c in max(0, cols.lowerBound)..<min(width, max(cols.upperBound, 0)) { cells[r * width + c] = cell }
        }
    }

    /// Glyphs only, rows joined by "\n" (for snapshot tests).
    public func text() -> String {
        (0..<height).map { r in String(cells[(r * width)..<((r + 1) * width)].map(\.glyph)) }.joined(separator: "\n")
    }
}
