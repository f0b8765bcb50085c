import XCTest
@testable import Render

final class GeometryAndDrawingTests: XCTestCase {
    /// A 2x4 gray image into a 2x2-cell viewport: one pixel per half-cell, worked by hand.
    func testTwoByFourImageFillsTwoByTwoCellsExactly() {
        let img = SliceImage(width: 2, height: 4, pixels: [10, 20, 30, 40, 50, 60, 70, 80])
        let g = ViewGeometry(imageWidth: 2, imageHeight: 4, cols: 2, rows: 2)
        XCTAssertEqual(g.pixelsPerHalfCellX, 1); XCTAssertEqual(g.pixelsPerHalfCellY, 1)
        var grid = CellGrid(width: 2, height: 2)
        SliceRenderer.draw(img, geometry: g, overlays: [], boxes: [], cursor: nil, mode: .trueColor, into: &grid, originCol: 0, originRow: 0)
        XCTAssertEqual(grid[0, 0], Cell(glyph: "\u{2580}", fg: RGB(10, 10, 10), bg: RGB(30, 30, 30)))
        XCTAssertEqual(grid[1, 0], Cell(glyph: "\u{2580}", fg: RGB(20, 20, 20), bg: RGB(40, 40, 40)))
        XCTAssertEqual(grid[0, 1], Cell(glyph: "\u{2580}", fg: RGB(50, 50, 50), bg: RGB(70, 70, 70)))
        XCTAssertEqual(grid[1, 1], Cell(glyph: "\u{2580}", fg: RGB(60, 60, 60), bg: RGB(80, 80, 80)))
    }

    /// Downscaling averages 2x2 blocks; half-cells beside the image are black.
    func testDownscalingAveragesAndOutsideIsBlack() {
        // 4x4 image in a 4-column, 1-row viewport: fit by height (4 px over 2 half-rows), so 2 px per half-cell,
        // the image spans columns 1...2 only; columns 0 and 3 are outside (black).
        let px: [UInt8] = [0, 100, 200, 40,  0, 100, 200, 40,  8, 8, 8, 8,  16, 16, 16, 16]
        let g = ViewGeometry(imageWidth: 4, imageHeight: 4, cols: 4, rows: 1)
        XCTAssertEqual(g.pixelsPerHalfCellX, 2); XCTAssertEqual(g.pixelsPerHalfCellY, 2)
        var grid = CellGrid(width: 4, height: 1)
        SliceRenderer.draw(SliceImage(width: 4, height: 4, pixels: px), geometry: g, overlays: [], boxes: [], cursor: nil,
                           mode: .trueColor, into: &grid, originCol: 0, originRow: 0)
        XCTAssertEqual(grid[0, 0].fg, RGB(0, 0, 0)); XCTAssertEqual(grid[3, 0].bg, RGB(0, 0, 0))
        XCTAssertEqual(grid[1, 0].fg, RGB(50, 50, 50))    // mean of 0, 100, 0, 100
        XCTAssertEqual(grid[2, 0].fg, RGB(120, 120, 120)) // mean of 200, 40, 200, 40
        XCTAssertEqual(grid[1, 0].bg, RGB(12, 12, 12))    // mean of 8, 8, 16, 16
    }

    func testPixelAndHalfCellRoundTripAtSeveralZoomsAndPans() {
        for zoom in [1.0, 1.5, 3.0, 7.0] {
            for centre in [nil, (30.0, 12.0)] as [(Double, Double)?] {
                let g = ViewGeometry(imageWidth: 64, imageHeight: 40, spacingX: 0.8, spacingY: 1.2, cols: 50, rows: 20,
                                     zoom: zoom, centerX: centre?.0, centerY: centre?.1)
                var visited = 0
                for y in stride(from: 0, to: 40, by: 3) { for x in stride(from: 0, to: 64, by: 5) {
                    let h = g.halfCell(x: x, y: y)
                    guard h.col >= 0, h.col < 50, h.halfRow >= 0, h.halfRow < 40 else { continue }
                    visited += 1
                    if zoom >= 3 {   // magnified: the half-cell shows exactly that pixel
                        let p = g.pixel(col: h.col, halfRow: h.halfRow)
                        XCTAssertEqual(p?.x, x); XCTAssertEqual(p?.y, y)
                    }
                } }
                XCTAssertGreaterThan(visited, 0)
            }
        }
    }

    func testSpacingSetsPhysicalAspect() {
        // 30x10 pixels of 1 x 3 mm is 30 x 30 mm: square on screen, so a half-cell spans 3x as many pixels in x as in y.
        // Viewport: 20 columns x 20 half-rows, square on screen.
        let g = ViewGeometry(imageWidth: 30, imageHeight: 10, spacingX: 1, spacingY: 3, cols: 20, rows: 10)
        XCTAssertEqual(g.pixelsPerHalfCellX, 1.5, accuracy: 1e-12)
        XCTAssertEqual(g.pixelsPerHalfCellY, 0.5, accuracy: 1e-12)
        // Pixel (15, 5)'s centre (15.5, 5.5) is 0.5 px right of and below the image centre (15, 5).
        let h = g.halfCell(x: 15, y: 5)
        XCTAssertEqual(h.col, 10); XCTAssertEqual(h.halfRow, 11)
        // The square image fills the square viewport, corner to corner.
        XCTAssertEqual(g.pixel(col: 0, halfRow: 0)?.x, 0); XCTAssertEqual(g.pixel(col: 0, halfRow: 0)?.y, 0)
        XCTAssertEqual(g.pixel(col: 19, halfRow: 19)?.x, 29); XCTAssertEqual(g.pixel(col: 19, halfRow: 19)?.y, 9)
    }

    func testFillBlendsAndContourMarksOnlyBorders() {
        let n = 6
        let img = SliceImage(width: n, height: n, pixels: [UInt8](repeating: 100, count: n * n))
        var labels = [UInt16](repeating: 0, count: n * n)
        for y in 1...4 { for x in 1...4 { labels[y * n + x] = 2 } }
        let g = ViewGeometry(imageWidth: n, imageHeight: n, cols: n, rows: n / 2)
        let colour = RGB(200, 0, 50)
        var grid = CellGrid(width: n, height: n / 2)
        SliceRenderer.draw(img, geometry: g, overlays: [LabelOverlay(labels: labels, style: .fill(alpha: 0.5), colorOf: { _ in colour })],
                           boxes: [], cursor: nil, mode: .trueColor, into: &grid, originCol: 0, originRow: 0)
        XCTAssertEqual(grid[2, 1].fg, RGB(150, 50, 75))   // 0.5*100 + 0.5*(200, 0, 50)
        XCTAssertEqual(grid[0, 1].fg, RGB(100, 100, 100))
        grid = CellGrid(width: n, height: n / 2)
        SliceRenderer.draw(img, geometry: g, overlays: [LabelOverlay(labels: labels, style: .contour, colorOf: { _ in colour })],
                           boxes: [], cursor: nil, mode: .trueColor, into: &grid, originCol: 0, originRow: 0)
        XCTAssertEqual(grid[1, 1].fg, colour)                 // pixel (1, 2): left border
        XCTAssertEqual(grid[2, 1].fg, RGB(100, 100, 100))     // pixel (2, 2): interior
        XCTAssertEqual(grid[2, 0].bg, colour)                 // pixel (2, 1): top border
    }

    func testBoxOutlineOnBorderAndCursor() {
        let n = 8
        let img = SliceImage(width: n, height: n, pixels: [UInt8](repeating: 0, count: n * n))
        let g = ViewGeometry(imageWidth: n, imageHeight: n, cols: n, rows: n / 2)
        var grid = CellGrid(width: n, height: n / 2)
        SliceRenderer.draw(img, geometry: g, overlays: [], boxes: [BoxOutline(x0: 5, y0: 5, x1: 2, y1: 2, color: RGB(9, 9, 9))],
                           cursor: (7, 7), mode: .trueColor, into: &grid, originCol: 0, originRow: 0)
        XCTAssertEqual(grid[2, 1].fg, RGB(9, 9, 9))     // (2, 2) corner
        XCTAssertEqual(grid[5, 2].bg, RGB(9, 9, 9))     // (5, 5) corner
        XCTAssertEqual(grid[3, 1].bg, RGB(0, 0, 0))     // (3, 3) inside
        XCTAssertEqual(grid[7, 3].bg, SliceRenderer.cursorColor)
    }
}

final class PaletteAndANSITests: XCTestCase {
    func testXterm256KnownColours() {
        XCTAssertEqual(Palette.xterm256(RGB(255, 0, 0)), 196)
        XCTAssertEqual(Palette.xterm256(RGB(0, 0, 0)), 16)
        XCTAssertEqual(Palette.xterm256(RGB(255, 255, 255)), 231)
        XCTAssertEqual(Palette.xterm256(RGB(128, 128, 128)), 244)   // gray ramp 8 + 10*12
        XCTAssertEqual(Palette.xterm256(RGB(0, 95, 135)), 16 + 6 + 2) // exact cube colour
        XCTAssertEqual(Palette.ansi16(RGB(250, 5, 5)), 9)
        XCTAssertEqual(Palette.ansi16(RGB(0, 0, 0)), 0)
    }

    func testColorModeDetection() {
        XCTAssertEqual(ColorMode.detect(environment: ["COLORTERM": "truecolor", "TERM": "xterm"], terminalColors: 8), .trueColor)
        XCTAssertEqual(ColorMode.detect(environment: ["TERM": "xterm-direct"], terminalColors: 16777216), .trueColor)
        XCTAssertEqual(ColorMode.detect(environment: ["TERM": "screen-256color"], terminalColors: 256), .color256)
        XCTAssertEqual(ColorMode.detect(environment: ["TERM": "vt100"], terminalColors: 8), .color16)
    }

    func testFrameWritesOnlyChangedCells() {
        var a = CellGrid(width: 5, height: 3)
        a.put("hello", col: 0, row: 0, fg: RGB(1, 2, 3), bg: RGB(4, 5, 6))
        XCTAssertEqual(ANSI.frame(a, previous: a, mode: .trueColor), "\u{1B}[0m")
        var b = a
        b[3, 2] = Cell(glyph: "x", fg: RGB(7, 8, 9), bg: RGB(0, 0, 0))
        XCTAssertEqual(ANSI.frame(b, previous: a, mode: .trueColor), "\u{1B}[3;4H\u{1B}[22;38;2;7;8;9;48;2;0;0;0mx\u{1B}[0m")
        XCTAssertEqual(ANSI.frame(b, previous: a, mode: .color256), "\u{1B}[3;4H\u{1B}[22;38;5;232;48;5;16mx\u{1B}[0m")  // (7,8,9): gray 232 = (8,8,8)
        XCTAssertEqual(ANSI.frame(b, previous: a, mode: .color16), "\u{1B}[3;4H\u{1B}[22;30;40mx\u{1B}[0m")
        // A full frame moves the cursor once per row and writes every glyph.
        let full = ANSI.frame(b, previous: nil, mode: .trueColor)
        XCTAssertEqual(full.components(separatedBy: "H").count - 1, 3)
        XCTAssertTrue(full.contains("hello"))
    }

    func testTextSnapshotClipsPut() {
        var g = CellGrid(width: 6, height: 2, fill: Cell(glyph: "."))
        g.put("abcdefgh", col: 2, row: 0, fg: RGB(1, 1, 1), bg: RGB(0, 0, 0))
        g.put("xyz", col: -1, row: 1, fg: RGB(1, 1, 1), bg: RGB(0, 0, 0), maxWidth: 3)
        XCTAssertEqual(g.text(), "..abcd\nyz....")
    }

    /// Terminal widths as wcwidth(3) gives them (hand-checked against the Unicode East Asian
    /// Width table): CJK, fullwidth forms and emoji take two cells.
    func testCharacterWidths() {
        for (ch, w) in [("a", 1), ("é", 1), ("e\u{301}", 1), ("\u{25CF}", 1), ("\u{2580}", 1), ("中", 2), ("한", 2),
                        ("\u{FF21}", 2), ("\u{FF71}", 1), ("\u{1F600}", 2), ("\u{2764}\u{FE0F}", 2),
                        ("\u{1F1E9}\u{1F1EA}", 2), ("\u{1F1E9}", 1)] as [(Character, Int)] {
            XCTAssertEqual(CellGrid.width(of: ch), w, "\(ch.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        XCTAssertEqual(CellGrid.width(of: "a中b"), 4)
    }

    /// A long text cut in its middle keeps its start and its end (hand-counted cells).
    func testMiddleFitted() {
        XCTAssertEqual(CellGrid.middleFitted("short", cells: 10), "short")
        // 11 cells: 4 for the start (40% of the 10 left after the ellipsis), 6 for the end.
        XCTAssertEqual(CellGrid.middleFitted("not saved: /data/case/out.nii: Permission denied", cells: 11), "not \u{2026}denied")
        XCTAssertEqual(CellGrid.width(of: CellGrid.middleFitted("not saved: /data/case/out.nii: Permission denied", cells: 30)), 30)
        // Wide characters count two cells and are never split.
        XCTAssertEqual(CellGrid.middleFitted("中文中文中文中文中文", cells: 9), "中\u{2026}文中文")
        XCTAssertEqual(CellGrid.middleFitted("abcdefghij", cells: 5), "a\u{2026}hij")
        XCTAssertEqual(CellGrid.middleFitted("ch2_nan.nii.gz", cells: 7), "ch\u{2026}i.gz")
        XCTAssertEqual(CellGrid.middleFitted("abcdefghij", cells: 2), "ab")
    }

    /// A wide character takes two cells; one that does not fit whole is left out, and writing
    /// over either half blanks the other, so no stray half is left on screen.
    func testWideCharactersTakeTwoCells() {
        let ink = RGB(1, 1, 1), paper = RGB(0, 0, 0)
        var g = CellGrid(width: 6, height: 1, fill: Cell(glyph: "."))
        XCTAssertEqual(g.put("a中b", col: 0, row: 0, fg: ink, bg: paper), 4)
        XCTAssertEqual(g.text(), "a中b..")
        XCTAssertEqual(g[2, 0].glyph, Cell.continuation)
        g.put("x", col: 2, row: 0, fg: ink, bg: paper)   // the right half
        XCTAssertEqual(g.text(), "a xb..")
        g.put("中", col: 3, row: 0, fg: ink, bg: paper)
        g.put("y", col: 3, row: 0, fg: ink, bg: paper)   // the left half
        XCTAssertEqual(g.text(), "a xy .")
        g.put("中文", col: 3, row: 0, fg: ink, bg: paper, maxWidth: 3)   // 文 does not fit
        XCTAssertEqual(g.text(), "a x中.")
        g.fill(cols: 0..<4, rows: 0..<1, with: Cell(glyph: "-"))   // cuts 中 in half
        XCTAssertEqual(g.text(), "---- .")
        var h = CellGrid(width: 3, height: 1, fill: Cell(glyph: "."))
        h.put("ab中", col: 0, row: 0, fg: ink, bg: paper)   // one cell left: left out
        XCTAssertEqual(h.text(), "ab.")
    }

    /// A frame writes a wide character once for its two cells and moves on two columns; a
    /// change to its second cell alone rewrites the character from its first cell.
    func testFrameWritesWideCharactersWhole() {
        let ink = RGB(1, 1, 1), paper = RGB(0, 0, 0)
        var a = CellGrid(width: 4, height: 1)
        a.put("中b", col: 0, row: 0, fg: ink, bg: paper)
        let full = ANSI.frame(a, previous: nil, mode: .trueColor)
        XCTAssertEqual(full, "\u{1B}[1;1H\u{1B}[22;38;2;1;1;1;48;2;0;0;0m中b\u{1B}[38;2;255;255;255;48;2;0;0;0m \u{1B}[0m")
        var b = a
        b[1, 0] = Cell(glyph: Cell.continuation, fg: RGB(9, 9, 9), bg: paper)
        XCTAssertEqual(ANSI.frame(b, previous: a, mode: .trueColor), "\u{1B}[1;1H\u{1B}[22;38;2;1;1;1;48;2;0;0;0m中\u{1B}[0m")
        // Narrow characters over it: both cells written.
        var c = a
        c.put("xy", col: 0, row: 0, fg: ink, bg: paper)
        XCTAssertEqual(ANSI.frame(c, previous: a, mode: .trueColor), "\u{1B}[1;1H\u{1B}[22;38;2;1;1;1;48;2;0;0;0mxy\u{1B}[0m")
    }
}
