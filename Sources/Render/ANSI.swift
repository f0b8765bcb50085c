// CellGrid -> escape sequences: only cells that changed since the previous frame are written.

public enum ANSI {
    public static func frame(_ grid: CellGrid, previous: CellGrid?, mode: ColorMode) -> String {
        var out = ""
        out.reserveCapacity(grid.width * grid.height * 8)
        let prev = previous.flatMap { $0.width == grid.width && $0.height == grid.height ? $0 : nil }
        var pen: (fg: RGB, bg: RGB, bold: Bool)? = nil
        for r in 0..<grid.height {
            var cursorCol = -1   // where the terminal cursor is on this row, -1 = unknown
            for c in 0..<grid.width {
                let cell = grid.cells[r * grid.width + c]
                if let p = prev, p.cells[r * grid.width + c] == cell { continue }
                if cursorCol != c { out += "\u{1B}[\(r + 1);\(c + 1)H" }
                if pen == nil || pen!.bold != cell.bold || pen!.fg != cell.fg || pen!.bg != cell.bg {
                    out += sgr(cell, mode: mode, boldChanged: pen == nil || pen!.bold != cell.bold)
                    pen = (cell.fg, cell.bg, cell.bold)
                }
                out.append(cell.glyph)
                cursorCol = c + 1
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
