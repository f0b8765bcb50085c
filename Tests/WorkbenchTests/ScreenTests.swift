import XCTest
import Render
import Volumes
@testable import Workbench

final class ScreenTests: XCTestCase {
    /// A 3-slice 8x8 volume whose slice z has value 10*z + x, with a ground truth square.
    func makeSession() throws -> Session {
        let (d, h, w) = (3, 8, 8)
        var v = [Float](repeating: 0, count: d * h * w), gt = [UInt16](repeating: 0, count: d * h * w)
        for z in 0..<d { for y in 0..<h { for x in 0..<w {
            v[(z * h + y) * w + x] = Float(10 * z + x)
            if (2...5).contains(x) && (2...5).contains(y) { gt[(z * h + y) * w + x] = 1 }
        } } }
        let image = OpenedImage(volume: Volume(shape: [d, h, w], voxels: v, spacing: [1, 1, 1], is3D: true), format: .npz,
                                groundTruth: LabelMap(shape: [d, h, w], labels: gt, spacing: [1, 1, 1]), boxes: [],
                                niftiGeometry: nil, looksLikeCT: false, isUInt8: true)
        return try Session(path: "/tmp/case.npz", image: image, groundTruth: nil, outputPath: nil)
    }

    func makeState(_ session: Session, cols: Int, rows: Int) -> AppState {
        var s = AppState(depth: 3, height: 8, width: 8, spacing: [1, 1, 1], is3D: true, hasGroundTruth: true,
                         window: session.autoWindow, windowName: "auto", autoWindow: session.autoWindow)
        s.screen = (cols, rows)
        return s
    }

    func testLayoutSnapshot() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 80, rows: 12)
        s.status = "hello"
        let g = Screen.draw(s, session, mode: .trueColor)
        let lines = g.text().components(separatedBy: "\n")
        XCTAssertEqual(lines.count, 12)
        XCTAssertTrue(lines[0].hasPrefix(" medseg  case.npz  axial 1 of 0-2  W 255 L 128 (auto)"), "[\(lines[0])]")
        XCTAssertTrue(lines[0].hasSuffix("? help "))
        XCTAssertTrue(lines[1].hasSuffix(" Objects".padding(toLength: 31, withPad: " ", startingAt: 0)), "[\(lines[1])]")
        XCTAssertTrue(lines[2].contains("none: b draws a box"))
        XCTAssertTrue(lines[11].hasPrefix(" hello"))
        XCTAssertTrue(lines[11].hasSuffix("x 4 y 4 z 1 = 14 "), lines[11])
        // The 8x8 slice fits 10 rows x 49 columns as 20 x 20 half-cells, centred: pixel (x, y) = 10 + x at slice 1.
        let geo = Layout(s).geometry!
        XCTAssertEqual(geo.pixelsPerHalfCellX, 0.4, accuracy: 1e-9)
        let h = geo.halfCell(x: 7, y: 0)
        let cell = g[h.col, 1 + h.halfRow / 2]
        XCTAssertEqual(cell.glyph, "\u{2580}")
        // Value 17 of window [0.5, 255]: (17 - 0) * 255/255 ... the auto window of uint8 data is 0...255.
        XCTAssertEqual(cell.fg, RGB(17, 17, 17))
    }

    func testGroundTruthContourAndMaskFill() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 80, rows: 12)
        s.showGroundTruth = true
        let geo = Layout(s).geometry!
        let centre = geo.halfCell(x: 2, y: 3)
        var g = Screen.draw(s, session, mode: .trueColor)
        let top = centre.halfRow % 2 == 0
        func colour(_ col: Int) -> RGB { let c = g[col, 1 + centre.halfRow / 2]; return top ? c.fg : c.bg }
        // Magnified 2.5x: the contour is the leftmost half-cell showing pixel x = 2 (the gt square's left border).
        let first = (0..<Layout(s).viewCols).first { colour($0) == Palette.label(1) }
        XCTAssertNotNil(first)
        XCTAssertEqual(geo.pixel(col: first!, halfRow: centre.halfRow)?.x, 2)
        XCTAssertNotEqual(colour(first! + 1), Palette.label(1), "inside the square is not contour")
        let edge = (col: first!, halfRow: centre.halfRow)
        s.showGroundTruth = false
        s.objects = [SegObject(id: 1, label: 2, x0: 0, y0: 0, x1: 7, y1: 7, z0: 1, z1: 1,
                               mask: ObjectMask(z0: 1, y0: 3, x0: 2, d: 1, h: 1, w: 1, bits: [1]), stale: false)]
        g = Screen.draw(s, session, mode: .trueColor)
        let m = g[edge.col, 1 + edge.halfRow / 2]
        let got = top ? m.fg : m.bg
        XCTAssertEqual(got, RGB(UInt8((0.55 * 12 + 0.45 * Double(Palette.label(2).r)).rounded()),
                                UInt8((0.55 * 12 + 0.45 * Double(Palette.label(2).g)).rounded()),
                                UInt8((0.55 * 12 + 0.45 * Double(Palette.label(2).b)).rounded())))
    }

    /// A 2D mask mostly outside its box stays flagged in the objects list (the status line's
    /// warning is soon replaced); a box changed since is not flagged.
    func testAMaskOutsideItsBoxIsFlaggedInThePanel() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 80, rows: 12)
        let off = ObjectMask(z0: 1, y0: 0, x0: 0, d: 1, h: 2, w: 2, bits: [1, 1, 1, 1])
        s.objects = [SegObject(id: 1, label: 2, x0: 4, y0: 4, x1: 7, y1: 7, z0: 1, z1: 1, mask: off, stale: false),
                     SegObject(id: 2, label: 3, x0: 0, y0: 0, x1: 7, y1: 7, z0: 1, z1: 1, mask: off, stale: false)]
        var text = Screen.draw(s, session, mode: .trueColor).text()
        XCTAssertTrue(text.contains(" 2 z1-1 4 vox 100% out"), text)
        XCTAssertTrue(text.contains(" 3 z1-1 4 vox\n") || text.contains(" 3 z1-1 4 vox "), text)
        XCTAssertFalse(text.contains(" 3 z1-1 4 vox 100% out"), text)
        s.objects[0].stale = true
        text = Screen.draw(s, session, mode: .trueColor).text()
        XCTAssertFalse(text.contains("% out"), text)
    }

    /// The count of gt labels without a mask fits the panel whole, even for an atlas (116 labels).
    func testUnboxedLabelCountFitsThePanel() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 80, rows: 12)
        s.objects = [SegObject(id: 1, label: 1, x0: 0, y0: 0, x1: 7, y1: 7, z0: 1, z1: 1, mask: nil, stale: true)]
        s.scores = Scores(rows: [], meanDSC: .nan, meanNSD: .nan, gtLabels: 116, notPredicted: Array(2...116))
        let text = Screen.draw(s, session, mode: .trueColor).text()
        XCTAssertTrue(text.contains("  115/116 gt labels no mask"), text)   // without a mask yet, boxed or not
    }

    /// With more objects and scored labels than rows, both lists become windows around the
    /// selected object: the selection stays in view and the scores block (header, mean, count)
    /// keeps its place.
    func testLongObjectAndScoreListsKeepTheSelectionAndTheScoresInView() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 80, rows: 24)
        s.objects = (1...40).map { SegObject(id: $0, label: $0, x0: 0, y0: 0, x1: 1, y1: 1, z0: 1, z1: 1, mask: nil, stale: true) }
        s.selected = 29
        s.segmenting = [31: BoxPlace(x0: 0, y0: 0, x1: 1, y1: 1, z0: 1, z1: 1)]
        s.scores = Scores(rows: (1...40).map { LabelScoreRow(label: $0, dsc: Double($0) / 100, nsd: 0.5) }, meanDSC: 0.205, meanNSD: 0.5,
                          gtLabels: 45, notPredicted: [41, 42, 43, 44, 45])
        let lines = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n").map { String($0.suffix(31)) }
        XCTAssertEqual(lines.count, 24)
        XCTAssertTrue(lines.contains { $0.contains(">\u{2588} 30 z1-1 not segmented") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains(" 31 z1-1 segmenting") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("  26-34 of 40 (Tab selects)") }, lines.joined(separator: "\n"))
        for want in ["vs ground truth   DSC    NSD", "  label 30       0.300  0.500", "  mean           0.205  0.500",
                     "  5/45 gt labels no mask", "more labels not shown"] {
            XCTAssertTrue(lines.contains { $0.contains(want) }, "'\(want)' missing:\n" + lines.joined(separator: "\n"))
        }
        // All of it fits: no window lines.
        s.objects = Array(s.objects.prefix(3)); s.selected = 0
        s.scores = Scores(rows: [LabelScoreRow(label: 1, dsc: 0.9, nsd: 0.8)], meanDSC: 0.9, meanNSD: 0.8, gtLabels: 1, notPredicted: [])
        let text = Screen.draw(s, session, mode: .trueColor).text()
        XCTAssertFalse(text.contains("Tab selects") || text.contains("more labels"), text)
        XCTAssertTrue(text.contains("  label 1        0.900  0.800"), text)
    }

    /// Voxel sizes taken as 1 mm (the file had no usable spacing) are said where NSD is shown.
    func testAssumedSpacingIsSaidBesideTheScores() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 80, rows: 12)
        XCTAssertFalse(Screen.draw(s, session, mode: .trueColor).text().contains("voxels taken as 1 mm"))
        s.spacingNote = "no `spacing` array; voxels taken as 1 mm"
        XCTAssertTrue(Screen.draw(s, session, mode: .trueColor).text().contains("  NSD: voxels taken as 1 mm"))
        // Without ground truth the panel still says so (the aspect and a saved NIfTI's voxel size).
        var noGT = AppState(depth: 3, height: 8, width: 8, spacing: [1, 1, 1], is3D: true, hasGroundTruth: false,
                            window: session.autoWindow, windowName: "auto", autoWindow: session.autoWindow)
        noGT.screen = (80, 12)
        XCTAssertFalse(Screen.draw(noGT, session, mode: .trueColor).text().contains("voxels taken as 1 mm"))
        noGT.spacingNote = s.spacingNote
        XCTAssertTrue(Screen.draw(noGT, session, mode: .trueColor).text().contains("voxels taken as 1 mm"))
    }

    /// A 40x12 screen with `text` on the command line, the cursor `fromEnd` characters from its end.
    func commandScreen(_ session: Session, _ text: String, fromEnd: Int) -> CellGrid {
        var s = makeState(session, cols: 40, rows: 12)
        s.mode = .command(text)
        s.commandCursor = fromEnd
        return Screen.draw(s, session, mode: .trueColor)
    }

    /// Tab's choices, when they do not agree, are shown dim after the line.
    func testCompletionChoicesFollowTheLine() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 40, rows: 12)
        s.mode = .command("s")
        s.completionChoices = ["save", "segment", "slice"]
        let g = Screen.draw(s, session, mode: .trueColor)
        XCTAssertTrue(g.text().components(separatedBy: "\n")[11].hasPrefix(":s    save  segment  slice"), g.text())
        XCTAssertEqual(g[6, 11].fg, Screen.dim)
    }

    /// The command line shows its cursor as a reversed cell, scrolled into view on a long line.
    func testCommandLineCursor() throws {
        let session = try makeSession()
        var g = commandScreen(session, "goto 4 5", fromEnd: 3)   // before the "4"
        XCTAssertTrue(g.text().components(separatedBy: "\n")[11].hasPrefix(":goto 4 5 "))
        let cursor = g[6, 11], before = g[5, 11]
        XCTAssertEqual(cursor.glyph, "4")
        XCTAssertEqual([cursor.fg, cursor.bg], [before.bg, before.fg])
        // 60 characters on a 40-column line, the cursor at the end: the line's end is shown.
        g = commandScreen(session, String(repeating: "a", count: 55) + "bcdef", fromEnd: 0)
        let last = g.text().components(separatedBy: "\n")[11]
        XCTAssertTrue(last.hasSuffix("abcdef "), "[\(last)]")
        XCTAssertEqual(g[39, 11].bg, before.fg)
    }

    /// Wide (CJK) characters on the command line take two cells each: the cursor lands on the
    /// right cell, and a shorter line after a Backspace leaves nothing behind.
    func testCommandLineWithWideCharacters() throws {
        let session = try makeSession()
        let g = commandScreen(session, "save 中文.npz", fromEnd: 5)   // before the "文"
        XCTAssertTrue(g.text().components(separatedBy: "\n")[11].hasPrefix(":save 中文.npz "))
        XCTAssertEqual(g[8, 11].glyph, "文")   // ":save " 6 cells, "中" 2
        XCTAssertEqual(g[8, 11].bg, Screen.text)
        let shorter = commandScreen(session, "save 中", fromEnd: 0)
        XCTAssertEqual(shorter.text().components(separatedBy: "\n")[11].trimmingCharacters(in: .whitespaces), ":save 中")
        XCTAssertEqual(shorter[8, 11].bg, Screen.text)   // the cursor cell after it
        // A long wide line scrolls so the cursor stays on screen.
        let long = commandScreen(session, String(repeating: "中", count: 30), fromEnd: 0)
        XCTAssertEqual(long.text().components(separatedBy: "\n")[11], String(repeating: "中", count: 19) + "  ")
        XCTAssertEqual(long[38, 11].bg, Screen.text)   // 19 whole wide characters, then the cursor
        // The status line's right-hand part stays whole beside a wide message.
        var s = makeState(session, cols: 40, rows: 12)
        s.status = "saved 中文/图像.npz"
        let status = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")[11]
        XCTAssertTrue(status.hasPrefix(" saved 中文/图像.npz "), status)
        XCTAssertTrue(status.hasSuffix(" "), status)
        XCTAssertEqual(CellGrid.width(of: status), 40)
    }

    func testTooSmallTerminalShowsAMessage() throws {
        let session = try makeSession()
        let g = Screen.draw(makeState(session, cols: 50, rows: 5), session, mode: .color256)
        XCTAssertTrue(g.text().hasPrefix("Terminal too small: need 40x10, have 50x5"), g.text())
        // On a narrow screen the words wrap, so the size needed stays readable (it was cut off).
        let narrow = Screen.draw(makeState(session, cols: 20, rows: 6), session, mode: .color256).text()
        let lines = narrow.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(Array(lines.prefix(3)), ["Terminal too small:", "need 40x10, have", "20x6"], narrow)
    }

    func testScoresMatchHandWorkedDice() throws {
        let session = try makeSession()
        // Predict the gt square on slice 1 only, plus 4 voxels outside it: |A| = 20, |B| = 48, |A∩B| = 16.
        var bits = [UInt8](repeating: 0, count: 8 * 8)
        for y in 2...5 { for x in 2...5 { bits[y * 8 + x] = 1 } }
        for x in 0..<4 { bits[7 * 8 + x] = 1 }
        let o = SegObject(id: 1, label: 1, x0: 0, y0: 0, x1: 7, y1: 7, z0: 1, z1: 1,
                          mask: ObjectMask(z0: 1, y0: 0, x0: 0, d: 1, h: 8, w: 8, bits: bits), stale: false)
        let sc = Scorer.scores([o], gt: session.groundTruth!, session: session)
        XCTAssertEqual(sc.rows.count, 1)
        XCTAssertEqual(sc.rows[0].dsc, 2.0 * 16 / (20 + 48), accuracy: 1e-12)
        XCTAssertEqual(sc.gtLabels, 1)
        XCTAssertTrue(sc.notPredicted.isEmpty)
        var st = makeState(session, cols: 80, rows: 24)
        st.objects = [o]; st.scores = sc
        XCTAssertTrue(Screen.draw(st, session, mode: .trueColor).text().contains("  the gt label has a mask"))
    }

    /// Orientation letters from a NIfTI affine. As stored, RAS+ data (the demo's ch2) puts
    /// posterior at the top of the axial view and the patient's left at the left; an LPS-stored
    /// one the other way round.
    func testEdgeLettersFollowTheAffine() throws {
        let ras: [[Double]] = [[1, 0, 0, -90], [0, 1, 0, -126], [0, 0, 1, -72], [0, 0, 0, 1]]
        func stored(_ a: ViewAxis) -> ViewFrame { ViewFrame(axis: a, depth: 3, height: 8, width: 8) }
        XCTAssertEqual(letters(stored(.axial).edgeLetters(affine: ras)), "LRPA")
        XCTAssertEqual(letters(stored(.coronal).edgeLetters(affine: ras)), "LRSI")
        XCTAssertEqual(letters(stored(.sagittal).edgeLetters(affine: ras)), "PASI")
        let lps: [[Double]] = [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]]
        XCTAssertEqual(letters(stored(.axial).edgeLetters(affine: lps)), "RLAP")
        // An oblique axis takes its dominant direction; a 45-degree one has no letter.
        let oblique: [[Double]] = [[0.9, 0.3, 0, 0], [-0.3, 0.9, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        XCTAssertEqual(letters(stored(.axial).edgeLetters(affine: oblique)), "LRPA")
        XCTAssertEqual(letters(stored(.axial).edgeLetters(affine: nil)), "none")
        let diagonal: [[Double]] = [[0.7, 0.7, 0, 0], [-0.7, 0.7, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        XCTAssertEqual(letters(stored(.axial).edgeLetters(affine: diagonal)), "none")
    }

    /// The standard orientation mirrors each plane so that R, A and S are at the left and top
    /// (radiological axial, head-up coronal and sagittal with anterior left), whatever the storage.
    func testStandardOrientationPutsRightAnteriorSuperiorLeftAndTop() {
        let ras: [[Double]] = [[1, 0, 0, -90], [0, 1, 0, -126], [0, 0, 1, -72], [0, 0, 0, 1]]
        let lps: [[Double]] = [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]]
        // Stored head first (z increasing towards the feet) and left to right.
        let lasFeet: [[Double]] = [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]]
        for (name, a) in [("ras", ras), ("lps", lps), ("las, z to the feet", lasFeet)] {
            let o = DisplayOrientation.standard(affine: a)
            func shown(_ axis: ViewAxis) -> String {
                letters(ViewFrame(axis: axis, depth: 3, height: 8, width: 8, flip: o[axis]).edgeLetters(affine: a))
            }
            XCTAssertEqual(shown(.axial), "RLAP", name)
            XCTAssertEqual(shown(.coronal), "RLSI", name)
            XCTAssertEqual(shown(.sagittal), "APSI", name)
        }
        XCTAssertEqual(DisplayOrientation.standard(affine: ras).axial, PlaneFlip(u: true, v: true))
        XCTAssertEqual(DisplayOrientation.standard(affine: lps), .stored)
        XCTAssertEqual(DisplayOrientation.standard(affine: nil), .stored)
        // A 45-degree axis keeps its stored direction.
        let diagonal: [[Double]] = [[0.7, 0.7, 0, 0], [-0.7, 0.7, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        XCTAssertEqual(DisplayOrientation.standard(affine: diagonal).axial, .none)
    }

    /// A mirrored view maps voxels and screen points both ways consistently.
    func testMirroredFrameRoundTrips() {
        for axis in ViewAxis.allCases {
            for flip in [PlaneFlip(u: false, v: false), PlaneFlip(u: true, v: false), PlaneFlip(u: false, v: true), PlaneFlip(u: true, v: true)] {
                let f = ViewFrame(axis: axis, depth: 3, height: 5, width: 7, flip: flip)
                let c = Voxel(x: 1, y: 3, z: 2)
                for z in 0..<3 { for y in 0..<5 { for x in 0..<7 {
                    let v = Voxel(x: axis == .sagittal ? c.x : x, y: axis == .coronal ? c.y : y, z: axis == .axial ? c.z : z)
                    let p = f.planePoint(v)
                    XCTAssertEqual(f.voxel(p, through: c), v)
                    XCTAssertEqual(f.index(p, through: c), (v.z * 5 + v.y) * 7 + v.x)
                } } }
            }
        }
        // Axial mirrored left-right: voxel x = 0 is at the right edge.
        let f = ViewFrame(axis: .axial, depth: 3, height: 5, width: 7, flip: PlaneFlip(u: true, v: false))
        XCTAssertEqual(f.planePoint(Voxel(x: 0, y: 1, z: 0)), PlanePoint(u: 6, v: 1))
    }

    /// On screen: a NIfTI with an sform code is drawn in the standard orientation, letters,
    /// pixels and boxes mirrored together; `:orient stored` shows it as stored; a NIfTI without
    /// qform and sform codes shows no letters and is not mirrored.
    func testNiftiIsShownInTheStandardOrientation() throws {
        let ras: [[Double]] = [[1, 0, 0, -90], [0, 1, 0, -126], [0, 0, 1, -72], [0, 0, 0, 1]]
        let base = try makeSession()
        let image = OpenedImage(volume: Volume(shape: [3, 8, 8], voxels: base.volume.voxels, spacing: [1, 1, 1], affine: ras, is3D: true),
                                format: .nifti, groundTruth: nil, boxes: [], niftiGeometry: geometry(sformCode: 1), looksLikeCT: false, isUInt8: true)
        let session = try Session(path: "/tmp/case.nii", image: image, groundTruth: nil, outputPath: nil)
        var s = makeState(session, cols: 80, rows: 20)
        s.standardOrientation = session.standardOrientation
        s.orientation = s.standardOrientation
        s.orientationKnown = session.hasKnownOrientation
        s.objects = [SegObject(id: 1, label: 1, x0: 0, y0: 0, x1: 2, y1: 2, z0: 0, z1: 2, mask: nil, stale: true)]
        let layout = Layout(s), geo = layout.geometry!
        let mid = layout.viewRow + layout.viewRows / 2
        func edges(_ st: AppState) -> String {
            let lines = Screen.draw(st, session, mode: .trueColor).text().components(separatedBy: "\n")
            return String([lines[mid].first!, Array(lines[mid])[layout.viewCols - 1],
                           Array(lines[layout.viewRow])[layout.viewCols / 2], Array(lines[layout.viewRow + layout.viewRows - 1])[layout.viewCols / 2]])
        }
        XCTAssertEqual(edges(s), "RLAP")
        // Pixel value 10 * z + x: the right-most column of the view shows x = 0 (value 10 at slice 1).
        func pixel(_ st: AppState, u: Int, v: Int) -> RGB {
            let h = geo.halfCell(x: u, y: v), c = Screen.draw(st, session, mode: .trueColor)[layout.viewCol + h.col, layout.viewRow + h.halfRow / 2]
            return h.halfRow % 2 == 0 ? c.fg : c.bg
        }
        XCTAssertEqual(pixel(s, u: 7, v: 4), RGB(10, 10, 10))
        XCTAssertEqual(pixel(s, u: 0, v: 4), RGB(17, 17, 17))
        // The box over voxels x, y in 0...2 is drawn at the bottom right (u 5...7, v 5...7: both mirrored).
        let boxColor = RGB(255, 255, 255)
        s.selected = 0
        XCTAssertEqual(pixel(s, u: 5, v: 7), boxColor)
        XCTAssertNotEqual(pixel(s, u: 0, v: 0), boxColor)
        // Moving the cursor left on screen moves towards the patient's right (voxel x up).
        let x0 = s.cursor.x
        _ = Reducer.reduce(&s, .key(.char("h")))
        XCTAssertEqual(s.cursor.x, x0 + 1)
        // As stored: letters and pixels back in array order; and back again.
        _ = Reducer.reduce(&s, .key(.char(":")))
        for ch in "orient stored" { _ = Reducer.reduce(&s, .key(.char(ch))) }
        _ = Reducer.reduce(&s, .key(.enter))
        XCTAssertEqual(edges(s), "LRPA")
        XCTAssertEqual(pixel(s, u: 0, v: 4), RGB(10, 10, 10))
        _ = Reducer.reduce(&s, .key(.char(":")))
        for ch in "orient" { _ = Reducer.reduce(&s, .key(.char(ch))) }
        _ = Reducer.reduce(&s, .key(.enter))
        XCTAssertEqual(edges(s), "RLAP")
        // A NIfTI without qform and sform codes: no letters, no mirroring, and :orient says why.
        let unknown = try Session(path: "/tmp/case.nii", image: OpenedImage(volume: image.volume, format: .nifti, groundTruth: nil, boxes: [],
                                                                            niftiGeometry: geometry(sformCode: 0), looksLikeCT: false, isUInt8: true),
                                  groundTruth: nil, outputPath: nil)
        XCTAssertEqual(unknown.standardOrientation, .stored)
        var u = makeState(unknown, cols: 80, rows: 20)
        let plain = Screen.draw(u, unknown, mode: .trueColor).text().components(separatedBy: "\n")
        XCTAssertNotEqual(plain[mid].first, "L", plain[mid])
        XCTAssertNotEqual(plain[mid].first, "R", plain[mid])
        _ = Reducer.reduce(&u, .key(.char(":")))
        for ch in "orient" { _ = Reducer.reduce(&u, .key(.char(ch))) }
        _ = Reducer.reduce(&u, .key(.enter))
        XCTAssertTrue(u.status.contains("no known orientation"), u.status)
    }

    func letters(_ e: (left: Character, right: Character, top: Character, bottom: Character)?) -> String {
        e.map { String([$0.left, $0.right, $0.top, $0.bottom]) } ?? "none"
    }

    func geometry(sformCode: Int32) -> NiftiGeometry {
        NiftiGeometry(pixdim: [1, 1, 1, 1, 1, 1, 1], qformCode: 0, sformCode: sformCode, quatern: [0, 0, 0, 0, 0, 0, 1],
                      sform: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], xyzUnits: 2, timeUnits: 0, niftiVersion: 1)
    }

    /// The help overlay ends with its last line on a tall screen, and says it is cut on a short one.
    /// A long file name is cut in its middle so the title keeps the slice, window and
    /// [modified]; a long status keeps its end (the reason a save failed), taking the readout's room.
    func testLongNamesAndMessagesKeepTheirEnds() throws {
        let base = try makeSession()
        let session = try Session(path: "/data/" + String(repeating: "very-long-case-name-", count: 5) + "end.npz", image: base.image,
                                  groundTruth: nil, outputPath: nil)
        var s = makeState(session, cols: 100, rows: 12)
        s.dirty = true
        s.status = "not saved: /data/" + String(repeating: "deep/", count: 20) + "out.nii.gz: Permission denied"
        let lines = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")
        XCTAssertTrue(lines[0].hasPrefix(" medseg  very-long-"), lines[0])
        XCTAssertTrue(lines[0].contains("\u{2026}") && lines[0].contains("end.npz  [modified]  axial 1 of 0-2  W 255 L 128 (auto)"), lines[0])
        XCTAssertTrue(lines[11].hasPrefix(" not saved: /data/"), lines[11])
        // Too long to share the line: the message takes the readout's room too.
        XCTAssertTrue(lines[11].contains("\u{2026}") && lines[11].trimmingCharacters(in: .whitespaces).hasSuffix("out.nii.gz: Permission denied"), lines[11])
        XCTAssertFalse(lines[11].contains("x 4 y 4 z 1"), lines[11])
        s.status = "saved out.nii.gz (40 ms)"
        let short = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")[11]
        XCTAssertTrue(short.hasPrefix(" saved out.nii.gz (40 ms)") && short.contains("x 4 y 4 z 1"), short)
    }

    /// On a narrow screen the title drops "medseg", then the window, never the slice or
    /// [modified]; a question too long for its line takes the rows above, read whole.
    func testNarrowScreensKeepTheSliceAndTheWholeQuestion() throws {
        let session = try makeSession()
        var s = makeState(session, cols: 40, rows: 12)
        s.dirty = true
        var lines = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")
        // "? help" gives up its room to the slice.
        XCTAssertEqual(lines[0].trimmingCharacters(in: .whitespaces), "case.npz  [modified]  axial 1 of 0-2", "[\(lines[0])]")
        // Then the name is cut.
        let longName = try Session(path: "/tmp/a-longer-name.npz", image: session.image, groundTruth: nil, outputPath: nil)
        lines = Screen.draw(s, longName, mode: .trueColor).text().components(separatedBy: "\n")
        XCTAssertEqual(lines[0].trimmingCharacters(in: .whitespaces), "a-l\u{2026}me.npz  [modified]  axial 1 of 0-2", "[\(lines[0])]")
        s.dirty = false
        lines = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")
        XCTAssertTrue(lines[0].hasPrefix(" case.npz  axial 1 of 0-2 ") && lines[0].hasSuffix("? help "), "[\(lines[0])]")
        s = makeState(session, cols: 60, rows: 12)
        XCTAssertTrue(Screen.draw(s, session, mode: .trueColor).text().hasPrefix(" case.npz  axial 1 of 0-2  W 255 L 128 (auto)"))
        s = makeState(session, cols: 70, rows: 12)
        XCTAssertTrue(Screen.draw(s, session, mode: .trueColor).text().hasPrefix(" medseg  case.npz  axial 1 of 0-2  W 255 L 128 (auto)"))

        s = makeState(session, cols: 40, rows: 12)
        s.mode = .confirmRestore
        s.restoreSummary = "6 objects, today 18:19"
        lines = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")
        XCTAssertEqual(lines[9...11].map { $0.trimmingCharacters(in: .whitespaces) },
                       ["Restore the unsaved work found (6", "objects, today 18:19)? y/n (n discards", "it)"])
        XCTAssertTrue(lines[8].contains("\u{2580}") || lines[8].contains(" "), "the image keeps the rows above")
        // Wide enough: one line, the image untouched above it.
        s.screen = (100, 12)
        lines = Screen.draw(s, session, mode: .trueColor).text().components(separatedBy: "\n")
        XCTAssertEqual(lines[11].trimmingCharacters(in: .whitespaces), "Restore the unsaved work found (6 objects, today 18:19)? y/n (n discards it)")
        XCTAssertFalse(lines[10].contains("Restore"))
        // More than three lines: the end, with the y/n, is kept.
        let long = Screen.questionLines("Replace " + String(repeating: "word ", count: 40) + "? y/n", cells: 40, rows: 3)
        XCTAssertEqual(long.count, 3)
        XCTAssertTrue(long[0].hasPrefix(" \u{2026}") && long[2].hasSuffix("? y/n"), "\(long)")
    }

    func testReadoutValuesAreNotRoundedToWholeNumbers() {
        XCTAssertEqual(Screen.fmtValue(-918.995), "-918.995")
        XCTAssertEqual(Screen.fmtValue(12_345_678), "12345678")
        XCTAssertEqual(Screen.fmtValue(0.1), "0.1")
        XCTAssertEqual(Screen.fmtValue(-1024), "-1024")
        XCTAssertEqual(Screen.fmtValue(3.0e10), "3e+10")
        XCTAssertEqual(Screen.fmtValue(.nan), "nan")
    }

    func testHelpSaysWhenItIsCut() throws {
        let session = try makeSession()
        // The whole list fits the classic 80x24 terminal, its lines inside the box.
        var tall = makeState(session, cols: 80, rows: 24)
        tall.mode = .help
        let t = Screen.draw(tall, session, mode: .trueColor).text()
        XCTAssertTrue(t.contains("any key closes this help") && !t.contains("... more"), t)
        for l in Screen.helpLines { XCTAssertTrue(t.contains(l), l) }
        var short = makeState(session, cols: 100, rows: 12)
        short.mode = .help
        XCTAssertTrue(Screen.draw(short, session, mode: .trueColor).text().contains("... more in a taller terminal"))
    }
}
