// Drawing: a pure function of the state (and the immutable session) into a CellGrid.
// Layout: title bar, image viewport with the object/score panel on its right, status line.
import Render
import Volumes

/// Where things go on a screen of the state's size. The one place cells map to the image.
struct Layout {
    static let minCols = 40, minRows = 10, panelWidth = 30
    let cols: Int, rows: Int
    let viewCol = 0, viewRow = 1
    let viewCols: Int, viewRows: Int
    let panelCol: Int?
    let geometry: ViewGeometry?

    init(_ s: AppState) {
        cols = s.screen.cols; rows = s.screen.rows
        let panel = cols >= 70
        panelCol = panel ? cols - Layout.panelWidth : nil
        viewCols = panel ? cols - Layout.panelWidth - 1 : cols
        viewRows = rows - 2
        guard cols >= Layout.minCols, rows >= Layout.minRows else { geometry = nil; return }
        let plane = s.plane, sp = s.axis.planeSpacing(s.spacing)
        geometry = ViewGeometry(imageWidth: plane.width, imageHeight: plane.height, spacingX: sp.u, spacingY: sp.v,
                                cols: viewCols, rows: viewRows, zoom: s.zoom, centerX: s.pan?.u, centerY: s.pan?.v)
    }

    var tooSmall: Bool { geometry == nil }
}

enum Screen {
    static let bar = RGB(38, 50, 56), text = RGB(230, 230, 230), dim = RGB(150, 150, 150)
    static let accent = RGB(255, 200, 60), black = RGB(0, 0, 0), warn = RGB(255, 120, 90)

    static func draw(_ s: AppState, _ session: Session, mode: ColorMode) -> CellGrid {
        let layout = Layout(s)
        var g = CellGrid(width: max(1, s.screen.cols), height: max(1, s.screen.rows))
        guard let geometry = layout.geometry else {
            // Word by word over the rows, so the size needed shows on a narrow screen too.
            let lines = TextWrap.lines("Terminal too small: need \(Layout.minCols)x\(Layout.minRows), have \(s.screen.cols)x\(s.screen.rows)",
                                       width: s.screen.cols)
            for (r, l) in lines.prefix(max(1, s.screen.rows)).enumerated() {
                g.put(l, col: 0, row: r, fg: accent, bg: black, maxWidth: s.screen.cols)
            }
            return g
        }
        // Title bar.
        g.fill(cols: 0..<layout.cols, rows: 0..<1, with: Cell(fg: text, bg: bar))
        // "? help" at the right, unless the title needs its room.
        let name = (session.path as NSString).lastPathComponent
        if let t = title(s, name: name, cells: layout.cols - 8) {
            g.put(t, col: 0, row: 0, fg: text, bg: bar, bold: true, maxWidth: layout.cols - 8)
            g.put("? help", col: max(0, layout.cols - 7), row: 0, fg: dim, bg: bar)
        } else {
            let t = title(s, name: name, cells: layout.cols - 1, nameAtLeast: 3) ?? ""
            g.put(t, col: 0, row: 0, fg: text, bg: bar, bold: true, maxWidth: layout.cols)
        }

        // Image with overlays.
        let frame = s.frame
        let image = session.displaySlice(frame, through: s.cursor, window: s.window)
        var overlays: [LabelOverlay] = []
        if s.showMask {
            let labels = session.predictionPlane(s.objects, frame, through: s.cursor)
            overlays.append(LabelOverlay(labels: labels, style: s.maskStyle == .fill ? .fill(alpha: 0.45) : .contour))
        }
        if s.showGroundTruth, let gt = session.groundTruthPlane(frame, through: s.cursor) {
            overlays.append(LabelOverlay(labels: gt, style: .contour))
        }
        var boxes: [BoxOutline] = []
        if s.axis == .axial {
            // Boxes are in voxels; their corners go to the view as drawn (it may be mirrored).
            func outline(_ a: Voxel, _ b: Voxel, color: RGB, dashed: Bool) -> BoxOutline {
                let (p, q) = (frame.planePoint(a), frame.planePoint(b))
                return BoxOutline(x0: min(p.u, q.u), y0: min(p.v, q.v), x1: max(p.u, q.u), y1: max(p.v, q.v), color: color, dashed: dashed)
            }
            for (i, o) in s.objects.enumerated() where (o.z0 <= s.cursor.z && s.cursor.z <= o.z1) || !s.is3D {
                boxes.append(outline(Voxel(x: o.x0, y: o.y0, z: s.cursor.z), Voxel(x: o.x1, y: o.y1, z: s.cursor.z),
                                     color: i == s.selected ? RGB(255, 255, 255) : Palette.label(o.label), dashed: o.stale))
            }
            if case .box(let corner?) = s.mode {
                boxes.append(outline(corner, s.cursor, color: accent, dashed: true))
            }
        }
        let cp = s.cursorPoint
        SliceRenderer.draw(image, geometry: geometry, overlays: overlays, boxes: boxes, cursor: (cp.u, cp.v),
                           mode: mode, into: &g, originCol: layout.viewCol, originRow: layout.viewRow)
        // Which side of the patient each edge of the view faces (NIfTI only).
        if session.hasKnownOrientation, let e = frame.edgeLetters(affine: session.volume.affine) {
            let (c0, r0, cols, rows) = (layout.viewCol, layout.viewRow, layout.viewCols, layout.viewRows)
            for (ch, col, row) in [(e.left, c0, r0 + rows / 2), (e.right, c0 + cols - 1, r0 + rows / 2),
                                   (e.top, c0 + cols / 2, r0), (e.bottom, c0 + cols / 2, r0 + rows - 1)] {
                g.put(String(ch), col: col, row: row, fg: accent, bg: black, bold: true)
            }
        }

        if let pc = layout.panelCol { panel(s, &g, col: pc, rows: 1..<(layout.rows - 1)) }
        statusLine(s, session, &g, row: layout.rows - 1)
        if s.mode == .help { help(&g) }
        return g
    }

    static func panel(_ s: AppState, _ g: inout CellGrid, col: Int, rows: Range<Int>) {
        let w = Layout.panelWidth, bg = RGB(18, 18, 18)
        g.fill(cols: (col - 1)..<(col + w), rows: rows, with: Cell(fg: text, bg: bg))
        // The scores block, then the rows each part gets: all it needs when both fit, else each
        // at least half of the panel (or what it needs, if less), the lists cut to a window.
        // Without ground truth the spacing note stands alone (it sets the aspect and the saved
        // NIfTI's voxel size).
        let scores = s.hasGroundTruth ? scoreLines(s)
            : s.is3D && s.spacingNote != nil ? [PanelLine(text: "", color: text), PanelLine(text: "voxels taken as 1 mm", color: warn)] : []
        let objectsNeed = 1 + max(1, s.objects.count)
        var objectRows = objectsNeed
        if objectsNeed + scores.count > rows.count {
            let half = rows.count / 2
            objectRows = scores.count <= half ? rows.count - scores.count : min(objectsNeed, rows.count - half)
        }
        var r = rows.lowerBound
        func line(_ t: String, _ fg: RGB = text, bold: Bool = false) {
            guard r < rows.upperBound else { return }
            g.put(t, col: col, row: r, fg: fg, bg: bg, bold: bold, maxWidth: w)
            r += 1
        }
        line("Objects", accent, bold: true)
        if s.objects.isEmpty {
            line("  none: b draws a box", dim)
            if !s.fileBoxes.isEmpty { line("  B: the file's \(s.fileBoxes.count) box\(s.fileBoxes.count == 1 ? "" : "es")", dim) }
        }
        let shown = Self.window(count: s.objects.count, around: s.selected ?? 0, rows: objectRows - 1)
        for i in shown.range {
            let o = s.objects[i]
            var state = s.segmenting[o.id] != nil ? "segmenting" : o.stale ? (o.mask == nil ? "not segmented" : "box changed")
                : (o.mask.map { "\($0.voxelCount) vox" } ?? "empty")
            // A 2D mask mostly outside its box (the model missed it): flagged while it lasts.
            if !o.stale, o.z0 == o.z1, let out = o.mask?.shareOutside(o.place), out > 0.5 {
                state += " \(Int((out * 100).rounded()))% out"
            }
            let z = s.is3D ? " z\(o.z0)-\(o.z1)" : ""
            guard r < rows.upperBound else { break }
            g.put(i == s.selected ? ">" : " ", col: col, row: r, fg: text, bg: bg)
            g.put("\u{2588}", col: col + 1, row: r, fg: Palette.label(o.label), bg: bg)
            g.put(" \(o.label)\(z) \(state)", col: col + 2, row: r, fg: text, bg: bg, maxWidth: w - 2)
            r += 1
        }
        if shown.range.count < s.objects.count {
            line("  \(shown.range.lowerBound + 1)-\(shown.range.upperBound) of \(s.objects.count) (Tab selects)", dim)
        }
        r = rows.lowerBound + objectRows
        for l in scoresFitted(scores, rows: rows.upperBound - r, selectedLabel: s.selected.flatMap { s.objects.indices.contains($0) ? s.objects[$0].label : nil }) {
            line(l.text, l.color, bold: l.bold)
        }
    }

    /// A window of `rows` rows over `count` items that holds `around`, with one row kept for the
    /// "a-b of n" line when they do not all fit.
    static func window(count: Int, around: Int, rows: Int) -> (range: Range<Int>, cut: Bool) {
        guard count > rows else { return (0..<count, false) }
        let n = max(0, rows - 1), start = max(0, min(count - n, around - n / 2))
        return (start..<(start + n), true)
    }

    struct PanelLine { var text: String; var color: RGB; var bold = false; var labelRow: Int? = nil }

    /// The scores block: a blank line, the header, a note, a row per scored label, the mean and
    /// the count of ground-truth labels without a mask.
    static func scoreLines(_ s: AppState) -> [PanelLine] {
        var out = [PanelLine(text: "", color: text), PanelLine(text: "vs ground truth   DSC    NSD", color: accent, bold: true)]
        if s.is3D && s.spacingNote != nil { out.append(PanelLine(text: "  NSD: voxels taken as 1 mm", color: warn)) }
        guard let sc = s.scores else {
            out.append(PanelLine(text: s.objects.allSatisfy { $0.mask == nil } ? "  no predictions yet" : "  computing...", color: dim))
            return out
        }
        for row in sc.rows {
            out.append(PanelLine(text: "  label \(String(row.label).padding(toLength: 8, withPad: " ", startingAt: 0)) \(score(row.dsc))  \(score(row.nsd))",
                                 color: text, labelRow: row.label))
        }
        if !sc.rows.isEmpty { out.append(PanelLine(text: "  mean           \(score(sc.meanDSC))  \(score(sc.meanNSD))", color: text, bold: true)) }
        out.append(PanelLine(text: sc.notPredicted.isEmpty ? (sc.gtLabels == 1 ? "  the gt label has a mask" : "  all \(sc.gtLabels) gt labels masked") : "  \(sc.notPredicted.count)/\(sc.gtLabels) gt labels no mask", color: dim))   // fits the 30-column panel
        return out
    }

    /// The scores block cut to `rows`: the blank line goes first, then label rows (a window
    /// around the selected object's label, and a line saying how many are left out).
    static func scoresFitted(_ lines: [PanelLine], rows: Int, selectedLabel: Int?) -> [PanelLine] {
        guard lines.count > rows, rows > 0 else { return Array(lines.prefix(max(0, rows))) }
        var body = Array(lines.dropFirst())
        guard body.count > rows else { return body }
        let labelRows = body.indices.filter { body[$0].labelRow != nil }
        guard let first = labelRows.first, let last = labelRows.last else { return Array(body.prefix(rows)) }
        let others = body.count - labelRows.count
        let fit = max(0, rows - others)
        let at = selectedLabel.flatMap { l in labelRows.firstIndex { body[$0].labelRow == l } } ?? 0
        let kept = window(count: labelRows.count, around: at, rows: fit)
        var cut = Array(body[first + kept.range.lowerBound..<first + kept.range.upperBound])
        if kept.cut { cut.append(PanelLine(text: "  \(labelRows.count - kept.range.count) more labels not shown", color: dim)) }
        body.replaceSubrange(first...last, with: cut)
        return Array(body.prefix(rows))
    }

    static func score(_ v: Double) -> String { v.isNaN ? "  -  " : String(format: "%.3f", v) }

    /// The title bar's text in `cells` cells. Slices count from 0, as the cursor, the object list
    /// and `:slice` do. A long file name is cut in its middle so the state stays in view; on a
    /// narrow screen "medseg" goes first, then the window, never the slice or [modified]; nil
    /// when even that does not fit.
    static func title(_ s: AppState, name: String, cells: Int, nameAtLeast: Int = 12) -> String? {
        var state = s.dirty ? "[modified]  " : ""
        if s.recoveryOff { state += "[no recovery: open in another medseg]  " }
        if s.is3D { state += "\(s.axis.rawValue) \(s.sliceIndex) of 0-\(s.sliceCount - 1)  " }
        let window = "W \(fmtWindow(s.window.width)) L \(fmtWindow(s.window.level)) (\(s.windowName))"
        let nameNeeds = min(nameAtLeast, CellGrid.width(of: name))
        let variants = [(" medseg  ", state + window), (" ", state + window), (" ", String(state.dropLast(2)))]
        // With `nameAtLeast` below 12 (the last resort) the smallest variant is cut at the end.
        guard let (brand, shown) = variants.first(where: { CellGrid.width(of: $0.0 + "  " + $0.1) + nameNeeds <= cells })
                ?? (nameAtLeast < 12 ? variants.last : nil) else { return nil }
        let nameRoom = max(nameNeeds, cells - CellGrid.width(of: brand + "  " + shown))
        return brand + CellGrid.middleFitted(name, cells: nameRoom) + "  " + shown
    }

    /// A question in lines of `cells` cells, at most `rows` of them, its end (the y/n) kept.
    static func questionLines(_ question: String, cells: Int, rows: Int) -> [String] {
        var lines = TextWrap.lines(question, width: max(1, cells - 1)).map { CellGrid.middleFitted($0, cells: max(1, cells - 1)) }
        if lines.count > rows {
            lines = Array(lines.suffix(rows))
            lines[0] = CellGrid.middleFitted("\u{2026} " + lines[0], cells: max(1, cells - 1))
        }
        return lines.map { " " + $0 }
    }

    static func statusLine(_ s: AppState, _ session: Session, _ g: inout CellGrid, row: Int) {
        g.fill(cols: 0..<g.width, rows: row..<(row + 1), with: Cell(fg: text, bg: bar))
        // A question too long for the line takes the rows above it (up to two) until answered:
        // a question must be read whole.
        func ask(_ question: String, color: RGB) {
            let lines = questionLines(question, cells: g.width, rows: min(3, row + 1))
            for (i, l) in lines.enumerated() {
                let r = row - (lines.count - 1) + i
                g.fill(cols: 0..<g.width, rows: r..<(r + 1), with: Cell(fg: text, bg: bar))
                g.put(l, col: 0, row: r, fg: color, bg: bar, bold: true, maxWidth: g.width)
            }
        }
        switch s.mode {
        case .command(let t):
            // The line scrolled so the cursor (a reversed cell) stays in view.
            // Wide characters take two cells.
            let line = Array(":" + t), at = 1 + LineEditor(text: t, fromEnd: s.commandCursor).position
            let under = at < line.count ? line[at] : " "
            var first = 0
            while first < at && CellGrid.width(of: String(line[first..<at])) + CellGrid.width(of: under) > g.width { first += 1 }
            let col = g.put(String(line[first..<at]), col: 0, row: row, fg: text, bg: bar, maxWidth: g.width)
            let after = g.put(String(under), col: col, row: row, fg: bar, bg: text, maxWidth: g.width - col)
            var end = after
            if at < line.count { end = g.put(String(line[(at + 1)...]), col: after, row: row, fg: text, bg: bar, maxWidth: g.width - after) }
            if let choices = s.completionChoices {
                g.put("   " + choices.joined(separator: "  "), col: end, row: row, fg: dim, bg: bar, maxWidth: max(0, g.width - end))
            }
            return
        case .confirmQuit, .confirmOverwrite, .confirmLoad:
            // The question at the end stays in view.
            let question = s.prompt.isEmpty ? s.status : s.prompt
            ask(question.isEmpty ? "Unsaved changes. Quit anyway? y/n" : question, color: warn); return
        case .confirmRestore:
            ask("Restore the unsaved work found" + (s.restoreSummary.map { " (\($0))" } ?? " from an earlier session") + "? y/n (n discards it)",
                color: accent); return
        default: break
        }
        let c = s.cursor
        var pos = s.is3D ? "x \(c.x) y \(c.y) z \(c.z)" : "x \(c.x) y \(c.y)"
        let v = session.values(at: c)
        pos += " = " + (v.count == 1 ? fmtValue(v[v.startIndex]) : "(" + v.map(fmtValue).joined(separator: ", ") + ")")
        if case .box = s.mode { pos = "BOX  " + pos }
        let left = s.status, busy = s.busy.map { "\u{25CF} \($0)  " } ?? ""
        // A message that does not fit beside the cursor's readout takes its room (the readout
        // comes back with the next short message, or Esc); the work under way keeps its mark.
        let fits = CellGrid.width(of: left) + 3 + CellGrid.width(of: busy + pos) <= g.width
        // Not even alone on the line (a long progress at 80 columns): the readout goes whole,
        // never cut to a wrong value.
        let right = (fits || left.isEmpty) && CellGrid.width(of: busy + pos) + 2 <= g.width ? busy + pos : String(busy.dropLast(2))
        let rightWidth = CellGrid.width(of: right)
        // A long message is cut in its middle: its end often says why (a save that failed).
        let room = max(0, g.width - rightWidth - 2)
        g.put(" " + CellGrid.middleFitted(left, cells: max(0, room - 1)), col: 0, row: row, fg: text, bg: bar, maxWidth: room)
        g.put(right, col: max(0, g.width - rightWidth - 1), row: row, fg: s.busy == nil ? dim : accent, bg: bar)
    }

    /// A voxel's value as stored: whole numbers whole (up to 1e9), others to float32's 7
    /// significant digits (4 showed -918.995 as -919, a whole number it is not).
    static func fmtValue(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(format: "%.7g", Double(v))
    }

    static let helpLines = [
        "medseg keys",
        "q quit (asks if unsaved)        ? this help",
        "] [ PgDn PgUp wheel  next/prev slice  } {  10 slices",
        "Home End  first/last slice",
        "arrows hjkl  move cursor        shift/HJKL  bigger steps",
        "b  box: space at two corners (two slices: 3D) or drag; Esc cancels",
        "s  segment new/changed boxes    B  load the file's boxes",
        "Tab S-Tab  select object   d Del  delete   n relabel",
        "z Z  set selected box's first/last slice here",
        "u  undo   Ctrl-R  redo          w  save",
        "g  ground truth   m  masks   o  fill/contour",
        "a c x  axial/coronal/sagittal   + - 0  zoom",
        "< >  window width   , .  level  p  presets",
        ":  command: slice N | box X0 Y0 X1 Y1 [Z0 Z1]",
        "   segment | save [PATH] | load [PATH] | window W L | label N",
        "   zrange Z0 Z1 | view AXIS | preset NAME | goto X Y [Z]",
        "   boxes | undo | redo | delete | quit [!] (! discards)",
        "   orient [standard|stored]  (NIfTI: patient's right at left)",
        "   Up/Down recall; Tab completes; Ctrl-A/E/K/U/W as in a shell",
        "any key closes this help",
    ]

    static func help(_ g: inout CellGrid) {
        let w = min(g.width - 2, (helpLines.map(\.count).max() ?? 0) + 4), h = min(g.height - 2, helpLines.count + 2)
        let c0 = max(0, (g.width - w) / 2), r0 = max(0, (g.height - h) / 2)
        g.fill(cols: c0..<(c0 + w), rows: r0..<(r0 + h), with: Cell(fg: text, bg: RGB(30, 30, 46)))
        let shown = max(1, h - 2), cut = helpLines.count > shown
        for (i, l) in helpLines.enumerated() where i < shown {
            // When the list does not fit, its last visible line says so.
            let line = cut && i == shown - 1 && i > 0 ? "... more in a taller terminal (README lists all)" : l
            g.put(line, col: c0 + 2, row: r0 + 1 + i, fg: i == 0 ? accent : text, bg: RGB(30, 30, 46), bold: i == 0, maxWidth: w - 3)
        }
    }
}

import Foundation
