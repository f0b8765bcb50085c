import XCTest
import Volumes
@testable import Workbench

final class ReducerTests: XCTestCase {
    func makeState(depth: Int = 10, height: Int = 20, width: Int = 30) -> AppState {
        var s = AppState(depth: depth, height: height, width: width, spacing: [2, 1, 1], is3D: depth > 1, hasGroundTruth: true,
                         window: Window(width: 100, level: 50), windowName: "auto", autoWindow: Window(width: 100, level: 50))
        s.screen = (100, 40)
        return s
    }

    @discardableResult
    func send(_ s: inout AppState, _ keys: Key...) -> [Effect] { keys.flatMap { Reducer.reduce(&s, .key($0)) } }

    func type(_ s: inout AppState, _ text: String) -> [Effect] {
        var e = send(&s, .char(":"))
        for c in text { e += send(&s, .char(c)) }
        return e + send(&s, .enter)
    }

    func testKeyboardBoxSegmentUndoRedo() {
        var s = makeState()
        XCTAssertEqual(s.cursor, Voxel(x: 15, y: 10, z: 5))
        send(&s, .char("b"), .left, .left, .up, .char(" "))            // corner 1 at (13, 9)
        send(&s, .char("l"), .char("l"), .char("l"), .char("j"), .char("j"), .char(" "))   // corner 2 at (16, 11)
        XCTAssertEqual(s.mode, .normal)
        XCTAssertEqual(s.objects.count, 1)
        let o = s.objects[0]
        XCTAssertEqual([o.x0, o.y0, o.x1, o.y1, o.z0, o.z1, o.label], [13, 9, 16, 11, 5, 5, 1])
        XCTAssertEqual(o.pixelBox, [13, 9, 16, 11])
        XCTAssertTrue(s.dirty)
        guard case .segment(let todo)? = send(&s, .char("s")).first else { return XCTFail("s must ask for segmentation") }
        XCTAssertEqual(todo.map(\.id), [o.id])
        let mask = ObjectMask(z0: 5, y0: 9, x0: 13, d: 1, h: 3, w: 4, bits: [UInt8](repeating: 1, count: 12))
        let effects = Reducer.reduce(&s, .segmented(o, mask: mask, seconds: 0.05, slices: 1))
        XCTAssertTrue(s.objects[0].mask === mask)
        XCTAssertFalse(s.objects[0].stale)
        XCTAssertTrue(effects.contains { if case .score = $0 { return true }; return false })
        XCTAssertTrue(effects.contains { if case .autosave = $0 { return true }; return false })
        // Nothing left to segment.
        XCTAssertTrue(send(&s, .char("s")).isEmpty)
        // The segmentation is an undo step of its own: the box comes back unsegmented, then goes.
        send(&s, .char("u"))
        XCTAssertEqual(s.objects.count, 1)
        XCTAssertNil(s.objects[0].mask)
        XCTAssertTrue(s.objects[0].stale)
        send(&s, .char("u"))
        XCTAssertTrue(s.objects.isEmpty)
        send(&s, .ctrl("r"), .ctrl("r"))
        XCTAssertTrue(s.objects[0].mask === mask)
        XCTAssertFalse(s.objects[0].stale)
    }

    /// The masks of one `s` over several boxes are one undo step; a change made while they
    /// arrive starts a new one, so undo never loses an edit.
    func testOneSegmentationIsOneUndoStep() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        _ = type(&s, "box 7 7 12 12")
        let sent = s.objects
        _ = type(&s, "segment")
        let m = ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        _ = Reducer.reduce(&s, .segmentProgress(sent[0], text: "segmenting label 1: 1/1 slices"))
        XCTAssertEqual(s.busy, "segmenting label 1 (1 of 2): 1/1 slices")
        _ = Reducer.reduce(&s, .segmented(sent[0], mask: m, seconds: 0.1, slices: 1))
        XCTAssertFalse(s.status.contains("objects in"), s.status)
        XCTAssertEqual(s.busy, "segmenting 1 object")   // not the finished one's progress
        _ = Reducer.reduce(&s, .segmented(sent[1], mask: m, seconds: 0.25, slices: 1))
        // The last of several says how long they all took.
        XCTAssertTrue(s.status.hasPrefix("label 2: 1 voxels in 250 ms") && s.status.hasSuffix("; 2 objects in 0.3 s"), s.status)
        send(&s, .char("u"))
        XCTAssertEqual(s.objects.count, 2)
        XCTAssertTrue(s.objects.allSatisfy { $0.mask == nil && $0.stale })
        send(&s, .ctrl("r"))
        // A relabel between two results: undoing the second result keeps the relabel.
        _ = type(&s, "box 14 2 18 6")
        let third = s.objects[2]
        _ = type(&s, "segment")
        s.selected = 0
        _ = type(&s, "label 7")
        _ = Reducer.reduce(&s, .segmented(third, mask: m, seconds: 0.1, slices: 1))
        send(&s, .char("u"))
        XCTAssertEqual(s.objects[0].label, 7)
        XCTAssertNil(s.objects[2].mask)
        send(&s, .char("u"))
        XCTAssertEqual(s.objects[0].label, 1)
    }

    /// `s` segments what is not segmented: an empty result is not redone, and a box being
    /// segmented is not queued twice.
    func testSegmentSkipsEmptyResultsAndRunningBoxes() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        func queued(_ e: [Effect]) -> [Int] { e.flatMap { if case .segment(let os) = $0 { return os.map(\.id) } else { return [] } } }
        XCTAssertEqual(queued(type(&s, "segment")), [1])
        XCTAssertEqual(queued(type(&s, "segment")), [], "already being segmented")
        XCTAssertEqual(s.status, "every box is segmented or being segmented")
        _ = Reducer.reduce(&s, .segmented(s.objects[0], mask: nil, seconds: 0.1, slices: 1))   // an empty mask
        _ = type(&s, "box 7 7 12 12")
        XCTAssertEqual(queued(type(&s, "segment")), [2])
        _ = Reducer.reduce(&s, .segmented(s.objects[1], mask: nil, seconds: 0.1, slices: 1))
        XCTAssertEqual(queued(type(&s, "segment")), [])
        XCTAssertEqual(s.status, "every object is segmented")
    }

    /// A stopped run's message does not end the wait for a newer request of the same box
    /// (undo, redo, s while a 3D run was under way).
    func testAStoppedRunDoesNotCancelTheNextRequest() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5 2 8")
        let sent = s.objects[0]
        _ = type(&s, "segment")
        send(&s, .char("u"), .ctrl("r"))
        XCTAssertTrue(s.segmenting.isEmpty, "the undo stopped it")
        _ = type(&s, "segment")
        XCTAssertEqual(s.segmenting[sent.id], sent.place)
        _ = Reducer.reduce(&s, .segmentStopped(sent))    // the first run's stop arrives now
        XCTAssertEqual(s.segmenting[sent.id], sent.place, "the new request still waits")
        XCTAssertNotNil(s.busy)
        XCTAssertFalse(s.status.contains("stopped"), s.status)
        _ = Reducer.reduce(&s, .segmented(sent, mask: ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1]), seconds: 2, slices: 7))
        XCTAssertEqual(s.status, "label 1: 1 voxels in 2.0 s (7 slices)")
        XCTAssertNil(s.busy)
    }

    /// A question holds the line until answered: a result arriving meanwhile does not replace
    /// it on screen. One that would open while a command line is typed does not open.
    func testQuestionsHoldTheLineUntilAnswered() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        let sent = s.objects[0]
        _ = type(&s, "segment")
        send(&s, .char("q"))
        XCTAssertEqual(s.mode, .confirmQuit)
        let asked = s.prompt
        XCTAssertTrue(asked.hasSuffix("quit anyway? y/n (w saves)"), asked)
        _ = Reducer.reduce(&s, .segmented(sent, mask: nil, seconds: 0.1, slices: 1))
        XCTAssertEqual(s.mode, .confirmQuit)
        XCTAssertEqual(s.prompt, asked)
        XCTAssertEqual(s.objects.count, 1)
        send(&s, .char("n"))
        XCTAssertEqual(s.prompt, "")
        // The replace question, due while a command line is being typed, waits for the next w.
        s.mode = .command("slice 5")
        _ = Reducer.reduce(&s, .overwriteAsked(path: "/data/x_seg.nii.gz"))
        XCTAssertEqual(s.mode, .command("slice 5"))
        XCTAssertEqual(s.status, "not saved: x_seg.nii.gz exists (not written in this session); w asks whether to replace it")
        // The PATH is the rest of the line as typed: two spaces in a name stay two.
        s.mode = .normal
        let paths = type(&s, "load  /tmp/two  sp.nii.gz").compactMap { if case .load(let p) = $0 { return p } else { return nil } }
        XCTAssertEqual(paths, ["/tmp/two  sp.nii.gz"])
    }

    /// After a restore nothing counts as saved, not even the empty list; a load into the empty
    /// list that leaves nothing unsaved ends the recovery file.
    func testRestoredWorkStaysUnsavedAndACleanLoadEndsTheRecoveryFile() {
        var s = makeState()
        let m = ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        _ = Reducer.reduce(&s, .restored([SegObject(id: 1, label: 2, x0: 1, y0: 1, x1: 3, y1: 3, z0: 5, z1: 5, mask: m, stale: false)]))
        send(&s, .char("d"), .char("u"), .ctrl("r"))
        XCTAssertTrue(s.objects.isEmpty)
        XCTAssertTrue(s.dirty, "the restored work was never saved: deleting it is a change")
        var t = makeState()
        _ = type(&t, "box 1 1 5 5")
        send(&t, .char("d"))
        let effects = Reducer.reduce(&t, .loaded([SegObject(id: 1, label: 4, x0: 1, y0: 1, x1: 1, y1: 1, z0: 5, z1: 5, mask: m, stale: false)],
                                                 path: "/data/x_seg.nii.gz"))
        XCTAssertFalse(t.dirty)
        XCTAssertTrue(effects.contains { if case .discardRecovery = $0 { return true } else { return false } }, "\(effects)")
    }

    /// Undo and redo select the object they bring back or change.
    func testUndoAndRedoSelectWhatTheyBringBack() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        _ = type(&s, "box 7 7 12 12")
        s.selected = 0
        send(&s, .char("d"))                       // the first box goes
        XCTAssertEqual(s.objects.map(\.id), [2])
        send(&s, .char("u"))
        XCTAssertEqual(s.objects.map(\.id), [1, 2])
        XCTAssertEqual(s.selected, 0, "the box brought back")
        send(&s, .char("u"))                       // the second box's drawing undone
        s.selected = 0
        send(&s, .ctrl("r"))
        XCTAssertEqual(s.selected, 1, "the box redrawn")
    }

    /// Slips are said, not ignored: words after a command that takes none; the window cannot
    /// run off to infinity; view names in any case; display toggles say what they did.
    func testSlipsAndTogglesAreSaid() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        for (line, said) in [("undo 5", "undo takes no arguments"), ("delete extra", "delete takes no arguments"),
                             ("quit please", "usage: quit [!] (! discards unsaved changes)")] {
            _ = type(&s, line)
            XCTAssertEqual(s.status, said)
            XCTAssertEqual(s.objects.count, 1)
            XCTAssertFalse(s.quit)
        }
        _ = type(&s, "view Coronal")
        XCTAssertEqual(s.axis, .coronal)
        _ = type(&s, "window 1e308 1")
        XCTAssertTrue(s.window.width.isFinite && s.window.width <= 1000 * s.autoWindow.width, "\(s.window)")
        XCTAssertTrue(s.status.hasSuffix("kept within 1000 times the image's range"), s.status)
        send(&s, .char(">"), .char(">"), .char(">"), .char(","))
        XCTAssertTrue(s.window.width.isFinite && s.window.level.isFinite, "\(s.window)")
        send(&s, .char("<"))
        XCTAssertLessThan(s.window.width, 1000 * s.autoWindow.width, "< narrows it again")
        send(&s, .char("m"))
        XCTAssertEqual(s.status, "masks hidden (m shows them)")
        send(&s, .char("o"))
        XCTAssertEqual(s.status, "masks outlined (o: filled); hidden now (m shows them)")
    }

    func testCommandLineBoxWithSliceRangeAndRelabelAndDelete() {
        var s = makeState()
        _ = type(&s, "box 25 3 4 12 7 2")
        XCTAssertEqual(s.objects.count, 1)
        XCTAssertEqual([s.objects[0].x0, s.objects[0].y0, s.objects[0].x1, s.objects[0].y1, s.objects[0].z0, s.objects[0].z1], [4, 3, 25, 12, 2, 7])
        _ = type(&s, "label 9")
        XCTAssertEqual(s.objects[0].label, 9)
        _ = type(&s, "box 0 0 5 5")
        XCTAssertEqual(s.objects[1].label, 1, "new boxes take the smallest free label")
        send(&s, .char("d"))
        XCTAssertEqual(s.objects.map(\.label), [9])
        // A box wholly outside the image is refused with a message, nothing added.
        _ = type(&s, "box 40 40 50 50")
        XCTAssertEqual(s.objects.count, 1)
        XCTAssertTrue(s.status.contains("outside"), s.status)
        _ = type(&s, "box 1 2 3")
        XCTAssertTrue(s.status.hasPrefix("usage"), s.status)
    }

    func testSliceRangeKeysMarkTheObjectStale() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        send(&s, .char("]"), .char("]"), .char("Z"))
        XCTAssertEqual([s.objects[0].z0, s.objects[0].z1], [5, 7])
        send(&s, .char("{"), .char("z"))
        XCTAssertEqual([s.objects[0].z0, s.objects[0].z1], [0, 7])
        XCTAssertTrue(s.objects[0].stale)
    }

    func testSliceNavigationClampsAndViewsSwitch() {
        var s = makeState()
        send(&s, .end)
        XCTAssertEqual(s.cursor.z, 9)
        send(&s, .char("]"), .pageDown)
        XCTAssertEqual(s.cursor.z, 9)
        _ = type(&s, "slice 999")
        XCTAssertEqual(s.cursor.z, 9)
        _ = type(&s, "slice 3")
        XCTAssertEqual(s.cursor.z, 3)
        send(&s, .char("c"))
        XCTAssertEqual(s.axis, .coronal)
        XCTAssertEqual(s.sliceCount, 20)
        send(&s, .char("]"))
        XCTAssertEqual(s.cursor.y, 11)
        send(&s, .char("b"))
        XCTAssertEqual(s.mode, .normal, "boxes only in the axial view")
    }

    func testQuitAsksWhenUnsaved() {
        var s = makeState()
        send(&s, .char("q"))
        XCTAssertTrue(s.quit, "nothing to lose: quits at once")
        s = makeState()
        _ = type(&s, "box 1 1 5 5")
        send(&s, .char("q"))
        XCTAssertFalse(s.quit)
        XCTAssertEqual(s.mode, .confirmQuit)
        send(&s, .char("n"))
        XCTAssertFalse(s.quit)
        XCTAssertEqual(s.mode, .normal)
        // A box not segmented yet is not in the saved file: the work stays unsaved.
        guard case .save(_, _, let g0, _)? = send(&s, .char("w")).first else { return XCTFail("w must save") }
        _ = Reducer.reduce(&s, .saved(path: "/tmp/x.npz", seconds: 0.01, generation: g0))
        XCTAssertTrue(s.dirty)
        XCTAssertTrue(s.status.contains("1 unsegmented box is left out"), s.status)
        send(&s, .char("q"))
        XCTAssertEqual(s.mode, .confirmQuit)
        XCTAssertTrue(s.status.hasPrefix("boxes not segmented or saved"), s.status)
        send(&s, .char("n"))
        // Segmented, then saved: nothing to lose.
        _ = Reducer.reduce(&s, .segmented(s.objects[0], mask: nil, seconds: 0.1, slices: 1))
        guard case .save(_, _, let g1, _)? = send(&s, .char("w")).first else { return XCTFail("w must save") }
        // A result that lands while the file is written is not in it either.
        _ = Reducer.reduce(&s, .saved(path: "/tmp/x.npz", seconds: 0.01, generation: g1 - 1))
        XCTAssertTrue(s.dirty)
        _ = Reducer.reduce(&s, .saved(path: "/tmp/x.npz", seconds: 0.01, generation: g1))
        XCTAssertFalse(s.dirty)
        send(&s, .char("q"))
        XCTAssertTrue(s.quit)
    }

    /// What the status says matches what happened (QA pass, fourth stop).
    func testMessagesSayWhatHappened() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5 2 4")
        let sent = s.objects[0]
        _ = Reducer.reduce(&s, .segmented(sent, mask: ObjectMask(z0: 2, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1]), seconds: 0.1, slices: 3))
        // A box changed since it was segmented is saved with its earlier mask, and says so.
        _ = type(&s, "zrange 2 6")
        _ = type(&s, "box 7 7 9 9")
        guard case .save(_, _, let g, _)? = send(&s, .char("w")).first else { return XCTFail("w must save") }
        _ = Reducer.reduce(&s, .saved(path: "/tmp/x.npz", seconds: 0.01, generation: g))
        XCTAssertTrue(s.status.contains("1 unsegmented box is left out"), s.status)
        XCTAssertEqual(s.status, "saved x.npz (10 ms); 1 unsegmented box is left out; 1 changed box is saved with its earlier mask")
        // The label an object has already: no change, no undo step.
        s.selected = 0
        let undo = s.undoStack.count
        _ = type(&s, "label 1")
        XCTAssertEqual(s.status, "the object has label 1 already")
        XCTAssertEqual(s.undoStack.count, undo)
        // Quitting while a segmentation runs says so.
        s.segmenting[s.objects[1].id] = s.objects[1].place
        send(&s, .char("q"))
        XCTAssertTrue(s.status.hasPrefix("a segmentation is running"), s.status)
        send(&s, .char("n"))
        // `:box` takes axial voxel coordinates from any view; a drag outside the axial view says why it draws nothing.
        send(&s, .char("c"))
        let count = s.objects.count
        _ = type(&s, "box 2 2 4 4")
        XCTAssertEqual(s.objects.count, count + 1, s.status)
        let layout = Layout(s), geo = layout.geometry!
        let a = geo.halfCell(x: 3, y: 4), b = geo.halfCell(x: 12, y: 6)
        for (kind, h) in [(MouseKind.press, a), (.drag, b), (.release, b)] {
            _ = Reducer.reduce(&s, .mouse(kind, col: layout.viewCol + h.col, row: layout.viewRow + h.halfRow / 2))
        }
        XCTAssertEqual(s.objects.count, count + 1)
        XCTAssertTrue(s.status.hasPrefix("boxes are drawn in the axial view"), s.status)
    }

    /// A mask that lies mostly outside its box (the model can miss on very elongated images)
    /// is pointed out, in the workbench and by `segment`.
    func testAMaskMostlyOutsideItsBoxIsPointedOut() {
        var s = makeState(depth: 1)
        _ = type(&s, "box 2 10 8 14")
        send(&s, .char("s"))
        // 6 voxels on rows 2-3, columns 2-4: all above the box.
        let off = ObjectMask(z0: 0, y0: 2, x0: 2, d: 1, h: 2, w: 3, bits: [1, 1, 1, 1, 1, 1])
        _ = Reducer.reduce(&s, .segmented(s.objects[0], mask: off, seconds: 0.1, slices: 1))
        XCTAssertTrue(s.status.hasSuffix("; 100% of it lies outside the box"), s.status)
        _ = type(&s, "box 2 2 8 3")
        send(&s, .char("s"))
        _ = Reducer.reduce(&s, .segmented(s.objects[1], mask: off, seconds: 0.1, slices: 1))
        XCTAssertFalse(s.status.contains("outside"), s.status)
        XCTAssertEqual(off.shareOutside(BoxPlace(x0: 3, y0: 0, x1: 9, y1: 9, z0: 0, z1: 0)), 2.0 / 6)
        XCTAssertEqual(off.shareOutside(BoxPlace(x0: 9, y0: 9, x1: 0, y1: 0, z0: 0, z1: 0)), 0)   // corners either way
        XCTAssertEqual(off.shareOutside(BoxPlace(x0: 2, y0: 3, x1: 9, y1: 9, z0: 0, z1: 0)), 3.0 / 6)
        XCTAssertEqual(off.shareOutside(BoxPlace(x0: 3, y0: 0, x1: 9, y1: 9, z0: 0, z1: 0)), 2.0 / 6)   // asked again
        // segment's check on a whole-image mask: 4 pixels, one outside [1, 1, 2, 2].
        var m = [UInt8](repeating: 0, count: 16)
        for p in [5, 6, 9, 15] { m[p] = 1 }
        XCTAssertEqual(SegmentCommand.shareOutside(m, box: [1, 1, 2, 2], width: 4), 0.25)
        XCTAssertNil(SegmentCommand.shareOutside([0, 0], box: [0, 0, 1, 0], width: 2))
    }

    /// Every unsaved object edit asks for an autosave (not only segmentations), so boxes drawn
    /// before the first mask survive a crash; edits that change nothing ask for none.
    func testObjectEditsAreAutosaved() {
        func autosaves(_ e: [Effect]) -> Int { e.filter { if case .autosave = $0 { return true } else { return false } }.count }
        var s = makeState()
        XCTAssertEqual(autosaves(type(&s, "box 1 1 5 5")), 1)
        XCTAssertEqual(autosaves(type(&s, "label 4")), 1)
        XCTAssertEqual(autosaves(type(&s, "label 4")), 0)        // unchanged
        XCTAssertEqual(autosaves(type(&s, "slice 3")), 0)        // not an object edit
        XCTAssertEqual(autosaves(type(&s, "zrange 2 5")), 1)
        XCTAssertEqual(autosaves(type(&s, "delete")), 1)
        let undo = send(&s, .char("u"))
        XCTAssertEqual(autosaves(undo), 1)
    }

    /// Quitting without saving (`quit !`, or y at the prompt) discards the recovery file too.
    func testQuitWithoutSavingDiscardsRecovery() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        let effects = type(&s, "quit !")
        XCTAssertTrue(effects.contains { if case .discardRecovery = $0 { return true } else { return false } }, "\(effects)")
        XCTAssertTrue(s.quit)
        s = makeState()
        _ = type(&s, "box 1 1 5 5")
        send(&s, .char("q"))
        guard case .discardRecovery? = send(&s, .char("y")).first else { return XCTFail("y must discard the recovery file") }
        XCTAssertTrue(s.quit)
    }

    /// Up and Down in the command line recall the lines entered before, as a shell does.
    func testCommandLineHistory() {
        var s = makeState()
        for line in ["slice 3", "goto 4 5", "goto 4 5"] {
            send(&s, .char(":"))
            for c in line { send(&s, .char(c)) }
            send(&s, .enter)
        }
        XCTAssertEqual(s.commandHistory, ["slice 3", "goto 4 5"])
        send(&s, .char(":"), .up)
        XCTAssertEqual(s.mode, .command("goto 4 5"))
        send(&s, .up, .up)
        XCTAssertEqual(s.mode, .command("slice 3"))
        send(&s, .down)
        XCTAssertEqual(s.mode, .command("goto 4 5"))
        send(&s, .down)
        XCTAssertEqual(s.mode, .command(""))
        send(&s, .up, .backspace, .char("7"), .enter)   // goto X Y: the recalled line, edited
        XCTAssertEqual([s.cursor.x, s.cursor.y, s.cursor.z], [4, 7, 3])
        XCTAssertEqual(s.commandHistory.last, "goto 4 7")
        // The line being typed is kept while history is browsed: Down past the latest brings it back.
        send(&s, .char(":"), .char("w"), .char("l"), .up, .up, .down, .down)
        XCTAssertEqual(s.mode, .command("wl"))
        // An edit to a recalled line stays with it while history is browsed, until a line is entered.
        send(&s, .up, .char("9"), .up, .down)
        XCTAssertEqual(s.mode, .command("goto 4 79"))
        send(&s, .up)
        XCTAssertEqual(s.mode, .command("goto 4 5"))   // an earlier line, unedited
        send(&s, .escape, .char(":"), .up)
        XCTAssertEqual(s.mode, .command("goto 4 7"))   // the edit went with the escape
        send(&s, .escape)
    }

    /// Tab completes a command's name, then a preset, axis, orientation or path, as far as the
    /// candidates agree; in the middle of the line it does nothing.
    func testTabCompletesCommandsAndTheirWords() {
        XCTAssertEqual(Completion.complete("seg"), "segment ")
        XCTAssertEqual(Completion.complete("bo"), "box")           // box and boxes
        XCTAssertNil(Completion.complete("box"))
        XCTAssertNil(Completion.complete("s"))                     // save, segment, slice
        XCTAssertEqual(Completion.complete("sl"), "slice ")
        XCTAssertEqual(Completion.complete("preset s"), "preset soft-tissue ")
        XCTAssertEqual(Completion.complete("view c"), "view coronal ")
        XCTAssertNil(Completion.complete("orient st"))             // standard, stored
        XCTAssertEqual(Completion.complete("orient sta"), "orient standard ")
        XCTAssertNil(Completion.complete("slice 3"))
        XCTAssertNil(Completion.complete("xyz"))
        var s = makeState()
        // The PATH of save and load: a folder's entries, a folder typed into, hidden ones left out.
        let dir = NSTemporaryDirectory() + "medseg-complete-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for f in ["ch2_seg.nii.gz", "ch2_seg2.npz", ".hidden"] { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + f, contents: Data())) }
        XCTAssertEqual(Completion.complete("save \(dir)/c"), "save \(dir)/ch2_seg")
        XCTAssertEqual(Completion.complete("load \(dir)/ch2_seg."), "load \(dir)/ch2_seg.nii.gz ")
        XCTAssertEqual(Completion.complete("load \(dir)/d"), "load \(dir)/data/")
        XCTAssertEqual(Completion.shown(Completion.choices("load \(dir)/")), ["ch2_seg.nii.gz", "ch2_seg2.npz", "data/"])
        XCTAssertEqual(Completion.choices("load \(dir)/.h"), ["\(dir)/.hidden"])
        XCTAssertTrue(Completion.paths("~/").allSatisfy { $0.hasPrefix("~/") })
        // A folder with a space in its name, and spaces before the PATH.
        try? FileManager.default.createDirectory(atPath: dir + "/my dir", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/my dir/atlas.nii.gz", contents: Data()))
        XCTAssertEqual(Completion.complete("load \(dir)/my dir/at"), "load \(dir)/my dir/atlas.nii.gz ")
        XCTAssertEqual(Completion.complete("load  \(dir)/my"), "load  \(dir)/my dir/")
        send(&s, .char(":"), .char("z"), .char("r"), .tab)
        XCTAssertEqual(s.mode, .command("zrange "))
        send(&s, .escape, .char(":"), .char("p"), .char("r"), .left, .tab)
        XCTAssertEqual(s.mode, .command("pr"))
        // Choices that do not agree are shown until the next key.
        send(&s, .escape, .char(":"), .char("s"), .tab)
        XCTAssertEqual(s.completionChoices, ["save", "segment", "slice"])
        send(&s, .char("l"))
        XCTAssertNil(s.completionChoices)
        send(&s, .escape)
    }

    /// Restored work is the session's start: undo does not empty it (that looked saved and
    /// dropped the recovery file), and it stays unsaved.
    func testUndoDoesNotGoBehindARestore() {
        var s = makeState()
        let o = SegObject(id: 4, label: 2, x0: 1, y0: 1, x1: 5, y1: 5, z0: 5, z1: 5, mask: nil, stale: true)
        _ = Reducer.reduce(&s, .restored([o]))
        XCTAssertTrue(s.dirty)
        XCTAssertTrue(send(&s, .char("u")).isEmpty)
        XCTAssertEqual(s.objects, [o])
        XCTAssertEqual(s.status, "nothing to undo")
        XCTAssertTrue(s.dirty)
        XCTAssertEqual(s.nextID, 5)
        _ = type(&s, "box 7 7 12 12")
        send(&s, .char("u"))
        XCTAssertEqual(s.objects, [o])
        XCTAssertTrue(s.dirty)
    }

    /// A command typed while drawing a box (`:goto` to place a corner) returns to the box.
    func testBoxModeOutlastsACommand() {
        var s = makeState()
        send(&s, .char("b"), .char(" "))                      // corner 1 at the cursor (15, 10)
        _ = type(&s, "goto 20 14")
        XCTAssertEqual(s.mode, .box(corner: Voxel(x: 15, y: 10, z: 5)))
        send(&s, .char(":"), .char("x"), .escape)             // a line abandoned: still drawing
        XCTAssertEqual(s.mode, .box(corner: Voxel(x: 15, y: 10, z: 5)))
        send(&s, .char(" "))
        XCTAssertEqual(s.objects.map { [$0.x0, $0.y0, $0.x1, $0.y1] }, [[15, 10, 20, 14]])
        XCTAssertEqual(s.mode, .normal)
        send(&s, .char("b"))
        _ = type(&s, "view coronal")                            // boxes are drawn in the axial view
        XCTAssertEqual(s.mode, .normal)
        send(&s, .char("a"), .char("b"), .char(" "))
        _ = type(&s, "box 1 1 5 5")                             // a box made by the command ends the drawing
        XCTAssertEqual(s.mode, .normal)
        XCTAssertEqual(s.objects.count, 2)
        // Corners on two slices: a 3D box over the slices between them.
        _ = type(&s, "goto 3 4 7")
        send(&s, .char("b"), .char(" "), .char("["), .char("["), .char("["), .char("l"), .char("j"), .char(" "))
        XCTAssertEqual(s.objects.last.map { [$0.x0, $0.y0, $0.x1, $0.y1, $0.z0, $0.z1] }, [3, 4, 4, 5, 4, 7])
    }

    /// `:load` asks for the file; its labels arrive as objects with this session's ids. Into an
    /// empty list they are what the file holds (nothing unsaved); beside other objects, an edit.
    func testLoadingASavedSegmentation() {
        var s = makeState()
        func loadPath(_ e: [Effect]) -> String?? { e.lazy.compactMap { if case .load(let p) = $0 { return .some(p) } else { return nil } }.first }
        guard let path = loadPath(type(&s, "load")) else { return XCTFail(":load must read the file") }
        XCTAssertNil(path)
        let m = ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        let file = [SegObject(id: 1, label: 4, x0: 1, y0: 1, x1: 1, y1: 1, z0: 5, z1: 5, mask: m, stale: false),
                    SegObject(id: 2, label: 9, x0: 1, y0: 1, x1: 1, y1: 1, z0: 5, z1: 5, mask: m, stale: false)]
        _ = Reducer.reduce(&s, .loaded(file, path: "/data/ch2_seg.nii.gz"))
        XCTAssertEqual(s.objects.map(\.label), [4, 9])
        XCTAssertEqual(s.status, "loaded 2 labels from ch2_seg.nii.gz as objects")
        XCTAssertFalse(s.dirty)
        _ = type(&s, "box 7 7 12 12")
        // Labels already in the list stay as they are: loading twice makes no duplicates.
        let steps = s.undoStack.count
        _ = Reducer.reduce(&s, .loaded(file, path: "/data/ch2_seg.nii.gz"))
        XCTAssertEqual(s.objects.count, 3)
        XCTAssertEqual(s.undoStack.count, steps)
        XCTAssertEqual(s.status, "nothing loaded: the 2 labels of ch2_seg.nii.gz are all in use already (:delete one to replace it)")
        var more = file
        more[1].label = 12
        _ = Reducer.reduce(&s, .loaded(more, path: "/data/other.npz"))
        XCTAssertEqual(s.objects.map(\.id), [1, 2, 3, 4])
        XCTAssertEqual(s.objects.map(\.label).last, 12)
        XCTAssertEqual(s.nextID, 5)
        XCTAssertTrue(s.dirty)
        XCTAssertEqual(s.status, "loaded 1 label from other.npz as objects (after the 3 here); label 4 in use already, kept as it is")
        XCTAssertEqual(loadPath(type(&s, "load ~/x.npz")), .some(NSHomeDirectory() + "/x.npz"))
        // A file with a label per gray level (an image picked by mistake) is asked about first.
        let many = (1...200).map { SegObject(id: $0, label: 100 + $0, x0: 1, y0: 1, x1: 1, y1: 1, z0: 5, z1: 5, mask: m, stale: false) }
        var u = makeState()
        _ = Reducer.reduce(&u, .loaded(many, path: "/data/t1.nii.gz"))
        XCTAssertEqual(u.mode, .confirmLoad)
        XCTAssertTrue(u.objects.isEmpty)
        XCTAssertEqual(u.status, "t1.nii.gz holds 200 labels (an image, not a segmentation?): load them all as objects? y/n")
        send(&u, .char("n"))
        XCTAssertEqual(u.mode, .normal)
        XCTAssertTrue(u.objects.isEmpty && u.pendingLoad == nil)
        XCTAssertEqual(u.status, "nothing loaded")
        // Read while a command line is typed: nothing loaded, no question taking the keys.
        u.mode = .command("slice 4")
        _ = Reducer.reduce(&u, .loaded(many, path: "/data/t1.nii.gz"))
        XCTAssertEqual(u.mode, .command("slice 4"))
        XCTAssertEqual(u.status, "t1.nii.gz holds 200 labels: nothing loaded (:load it again to be asked)")
        u.mode = .normal
        _ = Reducer.reduce(&u, .loaded(many, path: "/data/t1.nii.gz"))
        send(&u, .char("y"))
        XCTAssertEqual(u.loadedFrom, "/data/t1.nii.gz")
        XCTAssertEqual(u.objects.count, 200)
        XCTAssertEqual(u.status, "loaded 200 labels from t1.nii.gz as objects")
        // Undo back to the empty start and redo to the loaded file: nothing unsaved either way.
        var t = makeState()
        _ = Reducer.reduce(&t, .loaded(file, path: "/data/ch2_seg.nii.gz"))
        send(&t, .char("u"))
        XCTAssertTrue(t.objects.isEmpty)
        XCTAssertFalse(t.dirty, t.status)
        send(&t, .ctrl("r"))
        XCTAssertEqual(t.objects.count, 2)
        XCTAssertFalse(t.dirty, t.status)
        // B with every label taken: no edit, nothing unsaved.
        t.fileBoxes = [SegObject(id: 1, label: 4, x0: 0, y0: 0, x1: 3, y1: 3, z0: 5, z1: 5, mask: nil, stale: true)]
        let undoSteps = t.undoStack.count
        send(&t, .char("B"))
        XCTAssertFalse(t.dirty)
        XCTAssertEqual(t.undoStack.count, undoSteps)
        XCTAssertEqual(t.status, "the labels of the file's 1 boxes are all in use already; no box added")
    }

    /// A note from the opening (voxels taken as 1 mm, a recovery file set aside) stays in front
    /// of the model's ready message instead of being replaced by it.
    func testOpeningNoteOutlastsTheModelMessage() {
        var s = makeState()
        _ = Reducer.reduce(&s, .modelLoaded("model loaded (int8, 120 ms)", hint: true))
        XCTAssertEqual(s.status, "model loaded (int8, 120 ms): b draws a box, ? lists keys")
        s.openNote = "no `spacing` array; voxels taken as 1 mm"
        _ = Reducer.reduce(&s, .modelLoaded("model loaded (int8, 120 ms)", hint: true))
        XCTAssertEqual(s.status, "note: no `spacing` array; voxels taken as 1 mm · model loaded")
        // The file's boxes stay offered until there are objects.
        s.fileBoxes = [SegObject(id: 1, label: 1, x0: 0, y0: 0, x1: 3, y1: 3, z0: 5, z1: 5, mask: nil, stale: true)]
        _ = Reducer.reduce(&s, .modelLoaded("model loaded (int8, 120 ms)", hint: true))
        XCTAssertEqual(s.status, "note: no `spacing` array; voxels taken as 1 mm · model loaded: B loads the file's 1 box")
        s.openNote = nil
        _ = Reducer.reduce(&s, .modelLoaded("model loaded (int8, 120 ms)", hint: true))
        XCTAssertEqual(s.status, "model loaded (int8, 120 ms): B loads the file's 1 box, b draws a box, ? lists keys")
        _ = Reducer.reduce(&s, .modelLoaded("model loaded (fp32, 90 ms); seen through the CT soft-tissue window", hint: false))
        XCTAssertEqual(s.status, "model loaded (fp32, 90 ms); seen through the CT soft-tissue window; B loads the file's 1 box")
        _ = type(&s, "box 1 1 5 5")
        XCTAssertEqual(s.status, "box 1 1 5 5 as label 1, slice 5: s segments, z/Z set slices")
        _ = Reducer.reduce(&s, .modelLoaded("model loaded (int8, 120 ms)", hint: true))
        XCTAssertEqual(s.status, "model loaded (int8, 120 ms): b draws a box, ? lists keys")
    }

    /// The command line edits as a shell's: the cursor moves, and typing and deleting happen at it.
    func testCommandLineEditsAtTheCursor() {
        func edit(_ text: String, _ keys: Key...) -> (String, Int) {
            var line = LineEditor(text: text)
            for k in keys { line = line.applying(k) ?? line }
            return (line.text, line.position)
        }
        XCTAssertTrue(edit("goto 4 5", .left, .left, .left, .backspace) == ("goto4 5", 4))
        XCTAssertTrue(edit("goto 4 5", .home, .char("x")) == ("xgoto 4 5", 1))
        XCTAssertTrue(edit("goto 4 5", .ctrl("a"), .right, .delete, .ctrl("e"), .char("!")) == ("gto 4 5!", 8))
        XCTAssertTrue(edit("goto 4 5", .left, .left, .ctrl("k")) == ("goto 4", 6))
        XCTAssertTrue(edit("goto 4 5", .left, .ctrl("u")) == ("5", 0))
        XCTAssertTrue(edit("save /tmp/a b", .ctrl("w"), .ctrl("w")) == ("save ", 5))
        XCTAssertTrue(edit("ab", .delete, .delete) == ("", 0))          // at the end, Delete erases backwards
        XCTAssertTrue(edit("ab", .home, .left, .backspace) == ("ab", 0))  // nothing before the start
        XCTAssertTrue(edit("ab", .end, .right, .ctrl("d")) == ("a", 1))
        XCTAssertNil(LineEditor(text: "ab").applying(.enter))
        XCTAssertNil(LineEditor(text: "ab").applying(.up))

        var s = makeState()
        send(&s, .char(":"))
        for c in "goto 4 5" { send(&s, .char(c)) }
        send(&s, .left, .left, .backspace, .char("6"), .enter)   // goto 6 5, typed in the middle
        XCTAssertEqual([s.cursor.x, s.cursor.y], [6, 5])
        XCTAssertEqual(s.commandHistory.last, "goto 6 5")
        // A recalled line starts with the cursor at its end.
        send(&s, .char(":"), .left, .up, .char("0"))
        XCTAssertEqual(s.mode, .command("goto 6 50"))
        send(&s, .escape)
        send(&s, .char(":"), .char("x"), .home, .backspace, .backspace)  // Backspace at the start of a line keeps it
        XCTAssertEqual(s.mode, .command("x"))
    }

    func testMouseDragDrawsABox() {
        var s = makeState()
        let layout = Layout(s)
        let g = layout.geometry!
        let a = g.halfCell(x: 3, y: 4), b = g.halfCell(x: 12, y: 15)
        _ = Reducer.reduce(&s, .mouse(.press, col: a.col, row: layout.viewRow + a.halfRow / 2))
        _ = Reducer.reduce(&s, .mouse(.drag, col: (a.col + b.col) / 2, row: layout.viewRow + a.halfRow / 2 + 2))
        _ = Reducer.reduce(&s, .mouse(.release, col: b.col, row: layout.viewRow + b.halfRow / 2))
        XCTAssertEqual(s.objects.count, 1)
        let o = s.objects[0]
        // A cell holds two half-rows: the row's pixel is the top half's.
        XCTAssertEqual(o.x0, 3); XCTAssertEqual(o.x1, 12)
        XCTAssertLessThanOrEqual(abs(o.y0 - 4), 1); XCTAssertLessThanOrEqual(abs(o.y1 - 15), 1)
        // Released past the image (over the panel, below the view): the box ends at the edges.
        _ = Reducer.reduce(&s, .mouse(.press, col: a.col, row: layout.viewRow + a.halfRow / 2))
        _ = Reducer.reduce(&s, .mouse(.release, col: 10_000, row: 10_000))
        XCTAssertEqual(s.objects.count, 2)
        XCTAssertEqual([s.objects[1].x1, s.objects[1].y1], [s.width - 1, s.height - 1])
        // A press off the image starts nothing.
        _ = Reducer.reduce(&s, .mouse(.press, col: 10_000, row: 1))
        _ = Reducer.reduce(&s, .mouse(.release, col: a.col, row: layout.viewRow + a.halfRow / 2))
        XCTAssertEqual(s.objects.count, 2)
        // A question or a command line being typed: a drag neither answers, nor draws, nor drops it.
        func drag(_ s: inout AppState) {
            _ = Reducer.reduce(&s, .mouse(.press, col: a.col, row: layout.viewRow + a.halfRow / 2))
            _ = Reducer.reduce(&s, .mouse(.drag, col: b.col, row: layout.viewRow + b.halfRow / 2))
            _ = Reducer.reduce(&s, .mouse(.release, col: b.col, row: layout.viewRow + b.halfRow / 2))
        }
        for mode in [Mode.confirmRestore, .confirmQuit, .confirmOverwrite("/x.nii.gz"), .confirmLoad, .command("save /tmp/typ")] {
            s.mode = mode
            let status = s.status
            drag(&s)
            XCTAssertEqual(s.mode, mode)
            XCTAssertEqual(s.objects.count, 2, "\(mode)")
            XCTAssertEqual(s.status, status)
        }
        s.mode = .help
        drag(&s)
        XCTAssertEqual(s.mode, .normal, "a click closes the help")
        XCTAssertEqual(s.objects.count, 2)
        // Esc during a drag cancels it: the release makes no box.
        _ = Reducer.reduce(&s, .mouse(.press, col: a.col, row: layout.viewRow + a.halfRow / 2))
        _ = Reducer.reduce(&s, .mouse(.drag, col: b.col, row: layout.viewRow + b.halfRow / 2))
        send(&s, .escape)
        XCTAssertEqual(s.status, "box cancelled")
        _ = Reducer.reduce(&s, .mouse(.release, col: b.col, row: layout.viewRow + b.halfRow / 2))
        XCTAssertEqual(s.objects.count, 2)
        XCTAssertNil(s.dragStart)
    }

    func testStaleScoresAreIgnored() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        let old = Scores(rows: [], meanDSC: 0.5, meanNSD: 0.5, gtLabels: 3, notPredicted: [1, 2, 3])
        _ = Reducer.reduce(&s, .scored(old, generation: s.generation - 1))
        XCTAssertNil(s.scores)
        _ = Reducer.reduce(&s, .scored(old, generation: s.generation))
        XCTAssertEqual(s.scores, old)
        // A new mask: the old scores leave the panel ("computing..." until the new ones come;
        // they stayed up for seconds after the mask arrived).
        _ = type(&s, "segment")
        let effects = Reducer.reduce(&s, .segmented(s.objects[0], mask: nil, seconds: 0.1, slices: 1))
        XCTAssertNil(s.scores)
        XCTAssertTrue(effects.contains { if case .score = $0 { return true } else { return false } }, "\(effects)")
    }

    /// Undo and redo change the masks: the scores are recomputed (the panel kept the old ones)
    /// and the recovery file follows; a result for an object deleted meanwhile ends the busy mark.
    func testUndoRescoresAndADeletedObjectsResultClearsBusy() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        _ = type(&s, "segment")
        _ = Reducer.reduce(&s, .segmented(s.objects[0], mask: nil, seconds: 0.1, slices: 1))
        s.scores = Scores(rows: [], meanDSC: 0.5, meanNSD: 0.5, gtLabels: 1, notPredicted: [])
        let effects = send(&s, .char("u"))
        XCTAssertNil(s.scores)
        XCTAssertTrue(effects.contains { if case .score = $0 { return true } else { return false } }, "\(effects)")
        XCTAssertTrue(effects.contains { if case .autosave = $0 { return true } else { return false } }, "\(effects)")
        send(&s, .char("u"))   // the box itself (the first undo took its segmentation)
        XCTAssertTrue(s.objects.isEmpty)
        _ = type(&s, "box 2 2 6 6")
        s.busy = "segmenting label 1"
        _ = type(&s, "delete")
        _ = Reducer.reduce(&s, .segmented(SegObject(id: 999, label: 1, x0: 0, y0: 0, x1: 1, y1: 1, z0: 0, z1: 0, mask: nil, stale: true), mask: nil, seconds: 0.1, slices: 1))
        XCTAssertNil(s.busy)
    }

    /// Out-of-range slices and points go to the nearest one and say so; a 2D image has one slice.
    func testOutOfRangeSliceAndGotoAreReported() {
        var s = makeState()
        _ = type(&s, "slice 500")
        XCTAssertEqual(s.cursor.z, 9)
        XCTAssertEqual(s.status, "slice 500 is outside 0...9; at 9")
        _ = type(&s, "slice 4")
        XCTAssertEqual(s.cursor.z, 4)
        XCTAssertEqual(s.status, "")
        _ = type(&s, "goto 100 3 2")
        XCTAssertEqual(s.cursor, Voxel(x: 29, y: 3, z: 2))
        XCTAssertEqual(s.status, "100 3 2 is outside the 30x20x10 volume; at 29 3 2")
        _ = type(&s, "box 1 1 5 5")
        _ = type(&s, "zrange 3 99")
        XCTAssertEqual(s.status, "label 1: slices 3...9 (s segments); 3...99 reaches outside 0...9")
        // Wholly outside: refused (it used to make z0 > z1, and the panel's range trapped).
        for (a, b) in [(500, 600), (-5, -3), (-1, -1), (12, 10)] {
            _ = type(&s, "zrange \(a) \(b)")
            XCTAssertEqual(s.objects.last.map { [$0.z0, $0.z1] }, [3, 9])
            XCTAssertEqual(s.status, "slices \(min(a, b))...\(max(a, b)) lie outside 0...9")
        }
        // A float image's window keeps its decimals, and narrows below 1.
        XCTAssertEqual(fmtWindow(0.75), "0.75")
        XCTAssertEqual(fmtWindow(400), "400")
        s.window = Window(width: 0.75, level: 0.4)
        send(&s, .char("<"))
        XCTAssertEqual(s.window.width, 0.625, accuracy: 1e-12)   // used to stop at 1
        var flat = makeState(depth: 1)
        _ = type(&flat, "slice 3")
        XCTAssertEqual(flat.status, "this image has one slice")
    }

    /// The CT presets step through on a CT image; on one without HU values `p` stays on the
    /// automatic window and says why, and a preset asked for by name is set with a warning.
    func testCTPresetsOnlyStepOnImagesInHU() {
        var ct = makeState()
        send(&ct, .char("p"))
        XCTAssertEqual(ct.windowName, "soft-tissue")
        XCTAssertEqual(ct.status, "window soft-tissue: width 400 level 40")
        var mr = makeState()
        mr.holdsHU = false
        send(&mr, .char("p"))
        XCTAssertEqual(mr.windowName, "auto")
        XCTAssertEqual(mr.window, Window(width: 100, level: 50))
        XCTAssertTrue(mr.status.hasPrefix("window auto: width 100 level 50 (CT presets need HU)"), mr.status)
        _ = type(&mr, "preset lung")
        XCTAssertEqual(mr.windowName, "lung")
        XCTAssertEqual(mr.status, "window lung: width 1500 level -600 HU, but this image's values are not HU")
    }

    /// A save target this session did not write is replaced only after a yes.
    func testSavingOverAnEarlierFileAsksFirst() {
        var s = makeState()
        _ = Reducer.reduce(&s, .overwriteAsked(path: "/data/ch2_seg.nii.gz"))
        XCTAssertEqual(s.mode, .confirmOverwrite("/data/ch2_seg.nii.gz"))
        // Nothing segmented: the question says the file would be replaced by an empty one.
        XCTAssertEqual(s.status, "ch2_seg.nii.gz exists (not written in this session): replace it with an EMPTY segmentation (nothing segmented yet)? y/n")
        send(&s, .char("n"))
        XCTAssertEqual(s.mode, .normal)
        XCTAssertEqual(s.status, "not saved (:save PATH saves elsewhere)")
        _ = type(&s, "box 1 1 5 5")
        _ = Reducer.reduce(&s, .segmented(s.objects[0], mask: ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1]), seconds: 0.1, slices: 1))
        _ = Reducer.reduce(&s, .overwriteAsked(path: "/data/ch2_seg.nii.gz"))
        XCTAssertEqual(s.status, "/data/ch2_seg.nii.gz exists (not written in this session): replace it? y/n")
        // Boxes not segmented yet are named before the answer.
        _ = type(&s, "box 7 7 9 9")
        _ = Reducer.reduce(&s, .overwriteAsked(path: "/data/ch2_seg.nii.gz"))
        XCTAssertEqual(s.status, "ch2_seg.nii.gz exists (not written in this session); 1 unsegmented box would be left out: replace it? y/n")
        guard case .save(let path, _, _, let force)? = send(&s, .char("y")).first else { return XCTFail("y must save") }
        XCTAssertEqual(path, "/data/ch2_seg.nii.gz")
        XCTAssertTrue(force)
    }

    /// Only y or n answers the recovery question; other keys (a command typed ahead) leave it
    /// open instead of discarding the earlier work.
    func testRecoveryQuestionNeedsYOrN() {
        var s = makeState()
        s.mode = .confirmRestore
        XCTAssertTrue(send(&s, .char(":"), .char("b"), .char("o"), .char("x"), .enter, .char("s"), .char("d")).isEmpty)
        XCTAssertEqual(s.mode, .confirmRestore)
        XCTAssertTrue(s.objects.isEmpty)
        guard case .discardRecovery? = send(&s, .char("n")).first else { return XCTFail("n must discard the recovery file") }
        XCTAssertEqual(s.mode, .normal)
        s.mode = .confirmRestore
        guard case .restore? = send(&s, .char("y")).first else { return XCTFail("y must restore") }
    }

    /// :orient on an image without orientation, on one stored in the standard orientation, and
    /// with a stray argument.
    func testOrientMessages() {
        var s = makeState()
        _ = type(&s, "orient")
        XCTAssertTrue(s.status.contains("no known orientation"), s.status)
        s.orientationKnown = true
        _ = type(&s, "orient")
        XCTAssertEqual(s.status, "as stored, this image is already in the standard orientation")
        s.orientationOblique = true
        _ = type(&s, "orient")
        XCTAssertTrue(s.status.contains("oblique"), s.status)
        XCTAssertTrue(DisplayOrientation.isOblique(affine: [[0.7, 0.7, 0, 0], [-0.7, 0.7, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
        XCTAssertFalse(DisplayOrientation.isOblique(affine: [[0.9, 0.3, 0, 0], [-0.3, 0.9, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
        s.standardOrientation.axial = PlaneFlip(u: true, v: true)
        _ = type(&s, "orient stored extra")
        XCTAssertTrue(s.status.hasPrefix("usage"), s.status)
        _ = type(&s, "orient standard")
        XCTAssertEqual(s.orientation.axial, PlaneFlip(u: true, v: true))
    }

    /// The busy mark follows the objects being segmented: a box added meanwhile does not keep
    /// it, progress for an undone box is not shown, queued work for it is dropped, and its mask,
    /// when it comes, goes to the redo history.
    func testBusyFollowsTheObjectsBeingSegmented() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        let first = s.objects[0]
        _ = type(&s, "segment")
        XCTAssertNotNil(s.busy)
        _ = type(&s, "box 7 7 12 12")   // added while the first runs
        _ = Reducer.reduce(&s, .segmentProgress(first, text: "segmenting label 1: 3/9 slices"))
        XCTAssertEqual(s.busy, "segmenting label 1: 3/9 slices")
        let m = ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        _ = Reducer.reduce(&s, .segmented(first, mask: m, seconds: 0.1, slices: 1))
        XCTAssertNil(s.busy, "the new box is not being segmented")
        XCTAssertTrue(s.status.hasPrefix("label 1: 1 voxels"), s.status)
        // Undo while a box is segmented: the work under way stops, its progress is not shown.
        let second = s.objects[1]
        _ = type(&s, "segment")
        let effects = send(&s, .char("u"))   // the first box's mask (it came after the second box)
        XCTAssertNil(s.objects[0].mask)
        XCTAssertTrue(effects.contains { if case .cancelSegmentation(let ids) = $0 { return ids == [second.id] }; return false }, "\(effects)")
        XCTAssertTrue(s.status.hasSuffix("segmentation stopped (s segments)"), s.status)
        send(&s, .char("u"))                 // the second box
        XCTAssertEqual(s.objects.count, 1)
        XCTAssertNil(s.busy)
        _ = Reducer.reduce(&s, .segmentProgress(second, text: "segmenting label 2: 5/9 slices"))
        XCTAssertNil(s.busy)
        // Its result, if that part finished anyway, comes back with the redo.
        _ = Reducer.reduce(&s, .segmented(second, mask: m, seconds: 0.1, slices: 1))
        send(&s, .ctrl("r"))
        XCTAssertEqual(s.objects.count, 2)
        XCTAssertTrue(s.objects[1].mask === m)
        XCTAssertFalse(s.objects[1].stale)
    }

    /// A 3D segmentation stopped because its box was undone: the busy mark goes, and a box
    /// redone before the stop arrived waits unsegmented, saying so, until `s` queues it again.
    func testStoppedSegmentationLeavesTheBoxUnsegmented() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        let sent = s.objects[0], id = sent.id
        _ = type(&s, "segment")
        send(&s, .char("u"))
        send(&s, .ctrl("r"))   // back before the worker's stop came
        _ = Reducer.reduce(&s, .segmentStopped(sent))
        XCTAssertNil(s.busy)
        XCTAssertTrue(s.segmenting.isEmpty)
        XCTAssertTrue(s.objects[0].stale && s.objects[0].mask == nil)
        XCTAssertTrue(s.status.contains("segmentation stopped"), s.status)
        let effects = type(&s, "segment")
        XCTAssertTrue(effects.contains { if case .segment(let objects) = $0 { return objects.map(\.id) == [id] }; return false }, "\(effects)")
        // Stopped while gone: nothing on screen changes.
        send(&s, .char("u"))
        let status = s.status
        _ = Reducer.reduce(&s, .segmentStopped(sent))
        XCTAssertEqual(s.status, status)
        XCTAssertNil(s.busy)
    }

    /// Undo while one `s` is still running (one mask came, another box propagates): the work
    /// stops; a result that still comes belongs to its box in every state of the history, so
    /// redo and undo never drop it nor swap masks.
    func testUndoDuringABatchKeepsTheHistoryConsistent() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        _ = type(&s, "box 7 7 12 12 2 8")
        let (a, b) = (s.objects[0], s.objects[1])
        _ = type(&s, "segment")
        let ma = ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        let mb = ObjectMask(z0: 2, y0: 7, x0: 7, d: 1, h: 1, w: 1, bits: [1])
        _ = Reducer.reduce(&s, .segmented(a, mask: ma, seconds: 0.1, slices: 1))
        let effects = send(&s, .char("u"))
        XCTAssertTrue(effects.contains { if case .cancelSegmentation(let ids) = $0 { return ids == [b.id] }; return false }, "\(effects)")
        XCTAssertNil(s.objects[0].mask)
        _ = Reducer.reduce(&s, .segmented(b, mask: mb, seconds: 0.1, slices: 7))   // finished anyway
        XCTAssertTrue(s.objects[1].mask === mb)
        XCTAssertNil(s.objects[0].mask)
        send(&s, .ctrl("r"))
        XCTAssertTrue(s.objects[0].mask === ma)
        XCTAssertTrue(s.objects[1].mask === mb)
        send(&s, .char("u"))
        XCTAssertNil(s.objects[0].mask)
        XCTAssertTrue(s.objects[1].mask === mb)
    }

    /// A box given other slices while it is segmented: the running work is stopped, and a mask
    /// that still comes (made for the old slices) is not the box's, only the history's.
    func testAResultForAMovedBoxIsNotItsMask() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        _ = type(&s, "zrange 2 8")
        let sent = s.objects[0]
        _ = type(&s, "segment")
        XCTAssertNotNil(s.busy)
        let effects = type(&s, "zrange 3 8")
        XCTAssertTrue(effects.contains { if case .cancelSegmentation(let ids) = $0 { return ids == [sent.id] }; return false }, "\(effects)")
        XCTAssertNil(s.busy)
        let m = ObjectMask(z0: 2, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        _ = Reducer.reduce(&s, .segmentProgress(sent, text: "segmenting label 1: 2/7 slices"))
        XCTAssertNil(s.busy)
        _ = Reducer.reduce(&s, .segmented(sent, mask: m, seconds: 0.1, slices: 7))
        XCTAssertNil(s.objects[0].mask)
        XCTAssertTrue(s.objects[0].stale)
        XCTAssertEqual(s.objects[0].z0, 3)
        // Segmented again for 3...8; the old request's stop does not end the new one's wait.
        _ = type(&s, "segment")
        _ = Reducer.reduce(&s, .segmentStopped(sent))
        XCTAssertNotNil(s.busy)
        XCTAssertEqual(s.segmenting[sent.id], s.objects[0].place)
        send(&s, .char("u"))   // back to slices 2...8: the mask made for them
        XCTAssertEqual(s.objects[0].z0, 2)
        XCTAssertTrue(s.objects[0].mask === m)
        XCTAssertFalse(s.objects[0].stale)
    }

    /// Undo or redo back to what the last save wrote (or to nothing, before any save) leaves
    /// nothing unsaved: q does not ask, and the recovery file goes.
    func testUndoBackToTheSavedStateIsNotUnsaved() {
        var s = makeState()
        _ = type(&s, "box 1 1 5 5")
        XCTAssertTrue(s.dirty)
        var effects = send(&s, .char("u"))
        XCTAssertFalse(s.dirty, "no objects and nothing saved: nothing to lose")
        XCTAssertTrue(effects.contains { if case .discardRecovery = $0 { return true }; return false }, "\(effects)")
        send(&s, .ctrl("r"))
        XCTAssertTrue(s.dirty)
        let m = ObjectMask(z0: 5, y0: 1, x0: 1, d: 1, h: 1, w: 1, bits: [1])
        _ = Reducer.reduce(&s, .segmented(s.objects[0], mask: m, seconds: 0.1, slices: 1))
        _ = Reducer.reduce(&s, .saved(path: "/tmp/x.nii.gz", seconds: 0.1, generation: s.generation))
        XCTAssertFalse(s.dirty)
        _ = type(&s, "box 7 7 12 12")
        XCTAssertTrue(s.dirty)
        effects = send(&s, .char("u"))
        XCTAssertFalse(s.dirty, "back to the saved objects")
        XCTAssertTrue(s.status.hasSuffix("as saved"), s.status)
        send(&s, .char("q"))
        XCTAssertTrue(s.quit, "q does not ask")
        var t = s
        t.quit = false
        send(&t, .char("u"))   // before the segmentation: not what was saved
        XCTAssertTrue(t.dirty)
    }
}
