// CellGrid -> escape sequences: only cells that changed since the previous frame are written.

public enum ANSI {
    public static func frame(_ grid: CellGrid, previous: CellGrid?, mode: ColorMode) -> String {
        var out = ""
        out.reserveCapacity(grid.width * grid.height * 8)
        let prev = previous.flatMap { $0.width == grid.width && $0.height == grid.height ? $0 : nil }
        var pen: (fg: RGB, bg: RGB, bold: Bool)? = nil
        func write(_ cell: Cell) {
            if pen == nil || pen!.bold != cell.bold || pen!.fg != cell.fg || pen!.bg != cell.bg {
                out += sgr(cell, mode: mode, boldChanged: pen == nil || pen!.bold != cell.bold)
                pen = (cell.fg, cell.bg, cell.bold)
            }
            out.append(cell.glyph)
        }
        for r in 0..<grid.height {
            var cursorCol = -1   // where the terminal cursor is on this row, -1 = unknown
            for c in 0..<grid.width {
                let i = r * grid.width + c
                var cell = grid.cells[i]
                if let p = prev, p.cells[i] == cell { continue }
                var at = c
                if cell.glyph == Cell.continuation {
                    // A wide character's second cell goes out with it: when the first was just
                    // written, nothing to do; when only this half changed, the whole character
                    // again; an orphan half (a grid set cell by cell) as a blank.
                    if cursorCol == c + 1 { continue }
                    if c > 0 && CellGrid.width(of: grid.cells[i - 1].glyph) == 2 { cell = grid.cells[i - 1]; at = c - 1 } else { cell.glyph = " " }
                }
                if cursorCol != at { out += "\u{1B}[\(r + 1);\(at + 1)H" }
                write(cell)
                cursorCol = at + (cell.glyph == " " ? 1 : CellGrid.width(of: cell.glyph))
            }
        }
        out += "\u{1B}[0m"
        return out
    }

    static func sgr(_ cell: Cell, mode: ColorMode, boldChanged: Bool) -> String {
        var s = "\u{1B}["
        if boldChanged { s += cell.bold ? "1;" : "22;" }
        switch mode {
        case .trueColor:
            s += "38;2;\(cell.fg.r);\(cell.fg.g);\(cell.fg.b);48;2;\(cell.bg.r);\(cell.bg.g);\(cell.bg.b)m"
        case .color256:
            s += "38;5;\(Palette.xterm256(cell.fg));48;5;\(Palette.xterm256(cell.bg))m"
        case .color16:
            let f = Int(Palette.ansi16(cell.fg)), b = Int(Palette.ansi16(cell.bg))
            s += "\(f < 8 ? 30 + f : 90 + f - 8);\(b < 8 ? 40 + b : 100 + b - 8)m"
        }
        return s
    }
}
