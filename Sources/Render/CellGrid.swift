// The screen as values: cells with a glyph and two colours. Drawing fills a CellGrid; only
// ANSI.swift turns one into bytes, so screens are tested as text without a terminal.
// A wide character (CJK, most emoji) takes two cells: its own and a continuation cell after it.
#if canImport(Glibc)
import Glibc
#endif

public struct RGB: Hashable, Sendable {
    public var r, g, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { (self.r, self.g, self.b) = (r, g, b) }
}

public struct Cell: Hashable, Sendable {
    /// The right half of a wide character in the cell before it: never written on its own.
    public static let continuation: Character = "\u{0}"
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

    /// Writes text from (col, row), a wide character in two cells, clipped to the grid and to
    /// maxWidth (a wide character that does not fit whole is left out). Returns the column after it.
    @discardableResult
    public mutating func put(_ text: String, col: Int, row: Int, fg: RGB, bg: RGB, bold: Bool = false, maxWidth: Int? = nil) -> Int {
        guard row >= 0 && row < height else { return col }
        var c = col
        let limit = min(width, maxWidth.map { col + $0 } ?? width)
        for ch in text {
            let w = CellGrid.width(of: ch)
            if c + w > limit { break }
            if c >= 0 {
                set(c, row, Cell(glyph: ch, fg: fg, bg: bg, bold: bold))
                if w == 2 { set(c + 1, row, Cell(glyph: Cell.continuation, fg: fg, bg: bg, bold: bold)) }
            }
            c += w
        }
        return c
    }

    /// One cell, mending a wide character it cuts in half (the other half becomes a blank).
    private mutating func set(_ c: Int, _ r: Int, _ cell: Cell) {
        let i = r * width + c
        if cells[i].glyph == Cell.continuation && cell.glyph != Cell.continuation && c > 0 { cells[i - 1].glyph = " " }
        if c + 1 < width && cells[i + 1].glyph == Cell.continuation { cells[i + 1].glyph = " " }
        cells[i] = cell
    }

    /// Terminal cells a character takes: 2 for wide (East Asian wide and fullwidth, emoji),
    /// else 1 (combining marks are part of their Character already). glibc's wcwidth in the
    /// C.UTF-8 locale decides, whatever the process's locale.
    public static func width(of ch: Character) -> Int {
        guard let first = ch.unicodeScalars.first, first.value >= 0x1100 else { return 1 }
        if ch.unicodeScalars.contains("\u{FE0F}") { return 2 }   // emoji presentation
        // A flag is a pair of regional indicators, one cell each to wcwidth: two cells in all.
        if (0x1F1E6...0x1F1FF).contains(first.value) { return min(2, ch.unicodeScalars.count) }
        #if canImport(Glibc)
        guard let utf8 = CellGrid.utf8Locale else { return 1 }
        let old = uselocale(utf8)
        defer { uselocale(old) }
        return wcwidth(wchar_t(bitPattern: first.value)) == 2 ? 2 : 1
        #else
        return 1
        #endif
    }

    /// Cells a string takes.
    public static func width(of text: String) -> Int { text.reduce(0) { $0 + width(of: $1) } }

    /// `text` in at most `cells` cells: whole when it fits, else its start and its end around
    /// an ellipsis (the end of a message often says why: "not saved: /a/long/…/x.nii: Permission
    /// denied"). The start gets 40% of the room.
    public static func middleFitted(_ text: String, cells: Int) -> String {
        guard width(of: text) > cells else { return text }
        // Down to 3 cells a mark still says the text is cut (a name cut short at its end looked
        // like another file's).
        guard cells >= 3 else { return clipped(text, cells) }
        let chars = Array(text), room = cells - 1, headRoom = room * 2 / 5
        var head = 0, used = 0
        while head < chars.count, used + width(of: chars[head]) <= headRoom { used += width(of: chars[head]); head += 1 }
        var tail = chars.count, tailUsed = 0
        while tail > head, tailUsed + width(of: chars[tail - 1]) <= room - used { tailUsed += width(of: chars[tail - 1]); tail -= 1 }
        return String(chars[..<head]) + "\u{2026}" + String(chars[tail...])
    }

    /// The longest start of `text` that fits `cells` cells.
    static func clipped(_ text: String, _ cells: Int) -> String {
        var out = "", used = 0
        for ch in text { used += width(of: ch); if used > cells { break }; out.append(ch) }
        return out
    }

    #if canImport(Glibc)
    /// glibc's wcwidth (its header hides it from Swift's Glibc module without _XOPEN_SOURCE).
    @_silgen_name("wcwidth") private static func wcwidth(_ c: wchar_t) -> Int32
    nonisolated(unsafe) private static let utf8Locale: locale_t? = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)
    #endif

    public mutating func fill(cols: Range<Int>, rows: Range<Int>, with cell: Cell) {
        let (c0, c1) = (max(0, cols.lowerBound), min(width, max(cols.upperBound, 0)))
        guard c0 < c1 else { return }
        for r in max(0, rows.lowerBound)..<min(height, max(rows.upperBound, 0)) {
            // Wide characters cut in half at either edge lose their other half.
            if c0 > 0 && cells[r * width + c0].glyph == Cell.continuation { cells[r * width + c0 - 1].glyph = " " }
            if c1 < width && cells[r * width + c1].glyph == Cell.continuation { cells[r * width + c1].glyph = " " }
            for c in c0..<c1 { cells[r * width + c] = cell }
        }
    }

    /// Glyphs only, rows joined by "\n" (for snapshot tests); a wide character's second cell
    /// adds nothing, so a row reads as the terminal shows it.
    public func text() -> String {
        (0..<height).map { r in String(cells[(r * width)..<((r + 1) * width)].map(\.glyph).filter { $0 != Cell.continuation }) }
            .joined(separator: "\n")
    }
}
