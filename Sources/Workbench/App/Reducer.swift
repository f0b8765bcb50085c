// reduce(state, action) -> effects: the only place UI state changes. Pure (no I/O), so tests
// drive it directly; slow work is requested as effects and comes back as actions.
import Foundation
import Render
import Volumes

enum Reducer {
    static let maxUndo = 50

    static func reduce(_ s: inout AppState, _ action: Action) -> [Effect] {
        let generation = s.generation, mode = s.mode
        var effects = apply(&s, action)
        // The one place the recovery file follows the objects: every change to them (a box
        // drawn, moved, relabelled, deleted, a mask, an undo) is autosaved, so a crash before
        // the first mask keeps the boxes; a change that leaves nothing unsaved (back to what was
        // saved, a load into the empty list) ends the recovery file.
        if s.generation != generation && s.mode != .confirmRestore && !effects.contains(where: {
            switch $0 { case .autosave, .discardRecovery: return true; default: return false }
        }) {
            effects.append(s.dirty ? .autosave(objects: s.objects) : .discardRecovery)
        }
        // A question stays on the line until it is answered, whatever arrives meanwhile (a
        // finished segmentation used to replace it, and the next key answered it unseen).
        if s.mode != mode { s.prompt = s.mode.asks ? s.status : "" }
        return effects
    }

    static func apply(_ s: inout AppState, _ action: Action) -> [Effect] {
        switch action {
        case .key(let k): return key(&s, k)
        case .mouse(let kind, let col, let row): return mouse(&s, kind, col: col, row: row)
        case .resize(let c, let r): s.screen = (c, r); return []
        case .command(let text): return command(&s, text)
        case .progress(let text): s.busy = text; return []
        case .segmentProgress(let sent, let text):
            // Not for an object undone, deleted or moved meanwhile.
            // With more objects waiting, which of them this is ("label 1 (1 of 6): 15/32 slices");
            // the time left counts the waiting objects' slices too.
            if s.segmenting[sent.id] == sent.place && s.objects.contains(where: { $0.id == sent.id }) {
                let all = s.batch.done + s.segmenting.count, prefix = "segmenting label \(sent.label)"
                s.busy = all > 1 && text.hasPrefix(prefix) ? prefix + " (\(s.batch.done + 1) of \(all))" + text.dropFirst(prefix.count) : text
            }
            return []
        case .embedded(let n): s.embeddedSlices = n; return []
        case .segmented(let sent, let mask, let seconds, let slices):
            let awaited = s.segmenting[sent.id] == sent.place
            finished(&s, sent)
            guard awaited, let i = s.objects.firstIndex(where: { $0.id == sent.id && $0.place == sent.place }) else {
                endBatchIfIdle(&s)
                // A result no longer waited for (an undo or redo stopped the work, or the box was
                // deleted or given other slices, but this part finished): wherever this box is
                // unsegmented, in the history and on screen, it is segmented now, with no undo
                // step of its own, so undo and redo stay consistent.
                func fill(_ objects: inout [SegObject]) -> Bool {
                    var changed = false
                    for j in objects.indices where objects[j].id == sent.id && objects[j].place == sent.place && objects[j].stale {
                        objects[j].mask = mask
                        objects[j].stale = false
                        changed = true
                    }
                    return changed
                }
                for k in s.redoStack.indices { _ = fill(&s.redoStack[k]) }
                for k in s.undoStack.indices { _ = fill(&s.undoStack[k]) }
                guard fill(&s.objects) else { return [] }
                s.generation += 1
                s.dirty = true
                return rescore(&s)
            }
            // A segmentation is a step of its own: undo brings back the box without it.
            if !s.segmentationRecorded { record(&s); s.segmentationRecorded = true }
            s.objects[i].mask = mask
            s.objects[i].stale = false
            s.generation += 1
            s.dirty = true
            let what = mask == nil ? "empty mask" : "\(mask!.voxelCount) \(s.is3D ? "voxels" : "pixels")"
            s.status = "label \(s.objects[i].label): \(what) in \(duration(seconds))" + (slices > 1 ? " (\(slices) slices)" : "")
            if let m = mask, s.objects[i].z0 == s.objects[i].z1, let out = m.shareOutside(s.objects[i].place), out > 0.5 {
                // The model can miss its box (on very elongated images, say): say so.
                s.status += "; \(Int((out * 100).rounded()))% of it lies outside the box"
            }
            s.batch.done += 1; s.batch.seconds += seconds
            if s.segmenting.isEmpty && s.batch.done > 1 { s.status += "; \(s.batch.done) objects in \(fmt(s.batch.seconds, 1)) s" }
            endBatchIfIdle(&s)
            return rescore(&s)
        case .segmentStopped(let sent):
            // Only a cancel stops a job, and the cancel already ended the wait for it: a request
            // for the same box since (undo, redo, then s) is a new one and still waits.
            settleBusy(&s)
            endBatchIfIdle(&s)
            // Stopped by an undo or redo (or its box went); a box still on screen waits,
            // unsegmented, for the next `s`.
            if let o = s.objects.first(where: { $0.id == sent.id && $0.place == sent.place }), s.segmenting[o.id] == nil, o.stale {
                s.status = "label \(o.label): segmentation stopped by an edit (undo, redo, delete); s segments it"
            }
            return []
        case .segmentFailed(let sent, let message):
            finished(&s, sent)
            endBatchIfIdle(&s)
            s.status = "segmentation of label \(sent.label) failed: \(message)"
            return []
        case .scored(let scores, let generation):
            if generation == s.generation { s.scores = scores }
            return []
        case .saved(let path, let seconds, let generation):
            // Boxes not segmented yet (or changed since) are not in the file, nor are changes
            // made while it was written: the work stays unsaved, and its recovery file stays.
            // A box changed since its segmentation is in it with its earlier mask.
            s.dirty = s.objects.contains(where: \.stale) || generation != s.generation
            if !s.dirty { s.cleanStates = [s.objects] }
            // With something to say about boxes, the file's name stands for its path, so the
            // saying fits the status line.
            let caveats = boxCaveats(s.objects, unsegmentedVerb: "is left out", changedVerb: "is saved")
            s.status = "saved \(caveats.isEmpty ? path : (path as NSString).lastPathComponent) (\(duration(seconds)))" + caveats
            return s.dirty ? [] : [.discardRecovery]
        case .saveFailed(let m): s.status = "not saved: \(m)"; return []
        case .overwriteAsked(let path):
            // Asked while a command line, a box or another question was under way, the question
            // would take its keys: nothing is saved, and `w` asks again.
            guard s.mode == .normal else {
                s.status = "not saved: \((path as NSString).lastPathComponent) exists (not written in this session); w asks whether to replace it"
                return []
            }
            s.mode = .confirmOverwrite(path)
            // Nothing segmented (no object, or only empty masks): the replacement holds no label.
            guard s.objects.contains(where: { ($0.mask?.voxelCount ?? 0) > 0 }) else {
                s.status = "\((path as NSString).lastPathComponent) exists (not written in this session): replace it with an EMPTY segmentation (nothing segmented yet)? y/n"
                return []
            }
            let caveats = boxCaveats(s.objects, unsegmentedVerb: "would be left out", changedVerb: "would be saved")
            s.status = "\(caveats.isEmpty ? path : (path as NSString).lastPathComponent) exists (not written in this session)" + caveats + ": replace it? y/n"
            return []
        case .restored(let objects):
            // The restored work is where this session starts: undo does not go back before it
            // (one `u` used to empty the list, look saved, and drop the recovery file).
            s.undoStack = []; s.redoStack = []; s.segmentationRecorded = false
            // Nothing is saved of it: no state, not even the empty list, counts as saved now.
            s.cleanStates = []
            s.objects = objects
            s.nextID = (objects.map(\.id).max() ?? 0) + 1
            s.selected = objects.isEmpty ? nil : objects.count - 1
            s.generation += 1
            s.dirty = true
            s.mode = .normal
            s.status = "restored \(objects.count) object\(objects.count == 1 ? "" : "s") from the recovery file"
            return rescore(&s)
        case .message(let m): s.status = m; return []
        case .loaded(let objects, let path):
            // An image loaded by mistake has a label per gray level: that many is asked first.
            if objects.count > manyLabels {
                // Read while a command line, a box or another question was under way: the
                // question would take its keys. Nothing is loaded; asking again asks.
                guard s.mode == .normal else {
                    s.status = "\((path as NSString).lastPathComponent) holds \(objects.count) labels: nothing loaded (:load it again to be asked)"
                    return []
                }
                s.pendingLoad = (objects, path)
                s.mode = .confirmLoad
                s.status = "\((path as NSString).lastPathComponent) holds \(objects.count) labels (an image, not a segmentation?): load them all as objects? y/n"
                return []
            }
            return load(&s, objects, path: path)
        case .modelLoaded(let m, let hint):
            // A note from the opening (voxels taken as 1 mm, a recovery file set aside) stays in
            // front; with nothing else to say, what to do next.
            // The file's boxes are offered until there are objects (the opening's hint said so
            // too, and this message replaces it). With a note, the note keeps the line and the
            // model's message is cut to "model loaded" so both fit.
            let n = s.fileBoxes.count, boxes = n == 0 || !s.objects.isEmpty ? nil : "B loads the file's \(n) box\(n == 1 ? "" : "es")"
            if let note = s.openNote {
                s.status = "note: \(note) · model loaded" + (boxes.map { ": " + $0 } ?? "")
            } else if hint {
                s.status = m + ": " + (boxes.map { $0 + ", " } ?? "") + "b draws a box, ? lists keys"
            } else {
                s.status = m + (boxes.map { "; " + $0 } ?? "")
            }
            return []
        }
    }

    /// Labels above this many in a file `:load` reads are asked about first (the AAL atlas has 116,
    /// TotalSegmentator 117; an 8-bit image read as labels up to 255).
    static let manyLabels = 128

    /// A saved segmentation's labels added as objects.
    static func load(_ s: inout AppState, _ objects: [SegObject], path: String) -> [Effect] {
        let name = (path as NSString).lastPathComponent
        guard !objects.isEmpty else { s.status = "\(name) holds no labels"; return [] }
        // Loading a file twice, or after working on, never makes two objects of one label.
        let fresh = withFreeLabels(objects, s), skipped = objects.count - fresh.count
        let skippedNote = skipped == 0 ? "" : "; label\(skipped == 1 ? "" : "s") "
            + LabelList.text(objects.filter { !fresh.contains($0) }.map(\.label)) + " in use already, kept as\(skipped == 1 ? " it is" : " they are")"
        guard !fresh.isEmpty else {
            s.status = "nothing loaded: the \(objects.count == 1 ? "label" : "\(objects.count) labels") of \(name) \(objects.count == 1 ? "is" : "are all") in use already (:delete one to replace it)"
            return []
        }
        let wasEmpty = s.objects.isEmpty
        add(&s, fresh)
        s.status = "loaded \(fresh.count) label\(fresh.count == 1 ? "" : "s") from \(name) as objects"
            + (wasEmpty ? "" : " (after the \(s.objects.count - fresh.count) here)") + skippedNote
        // Loaded into an empty list, the objects are what the file holds: nothing unsaved.
        if wasEmpty && s.cleanStates.contains([]) { s.dirty = false; s.cleanStates.append(s.objects) }
        s.loadedFrom = path
        return rescore(&s)
    }

    // MARK: keys

    /// The answer to a y/n prompt: y or Y; any other key is no.
    static func isYes(_ k: Key) -> Bool { k == .char("y") || k == .char("Y") }

    static func key(_ s: inout AppState, _ k: Key) -> [Effect] {
        switch s.mode {
        case .help:
            s.mode = .normal
            return []
        case .confirmQuit:
            // Quitting without saving discards the work, its recovery file too; w and s do
            // what the question offers.
            if isYes(k) { s.quit = true; return [.discardRecovery] }
            s.mode = .normal; s.status = "quit cancelled"
            if k == .char("w") { return command(&s, "save") }
            if k == .char("s") { return command(&s, "segment") }
            return []
        case .confirmOverwrite(let path):
            s.mode = .normal
            guard isYes(k) else { s.status = "not saved (:save PATH saves elsewhere)"; return [] }
            s.status = "saving..."
            return [.save(path: path, objects: s.objects, generation: s.generation, force: true)]
        case .confirmLoad:
            s.mode = .normal
            let pending = s.pendingLoad
            s.pendingLoad = nil
            guard isYes(k), let pending else { s.status = "nothing loaded"; return [] }
            return load(&s, pending.objects, path: pending.path)
        case .confirmRestore:
            // Only an explicit n discards the earlier work: any other key (a command typed
            // ahead, say) leaves the question open.
            if isYes(k) { s.mode = .normal; return [.restore] }
            guard k == .char("n") || k == .char("N") else {
                s.status = "y restores the earlier session's unsaved work, n discards it"
                return []
            }
            s.mode = .normal
            s.status = "recovery file discarded"
            return [.discardRecovery]
        case .command(let text):
            s.completionChoices = nil   // shown until the next key
            switch k {
            case .enter:
                s.mode = .normal
                s.historyIndex = nil
                s.historyEdits = [:]
                s.commandCursor = 0
                let line = text.trimmingCharacters(in: .whitespaces)
                if !line.isEmpty && s.commandHistory.last != line {
                    s.commandHistory.append(line)
                    if s.commandHistory.count > 200 { s.commandHistory.removeFirst() }
                }
                let resume = s.boxToResume, count = s.objects.count
                s.boxToResume = nil
                let effects = command(&s, text)
                // Back to the box being drawn, unless the command went elsewhere (a prompt, another
                // view) or made a box itself.
                if let resume, s.mode == .normal, s.axis == .axial, s.objects.count == count { s.mode = resume }
                return effects
            case .escape:
                s.mode = s.boxToResume ?? .normal; s.boxToResume = nil
                s.historyIndex = nil; s.historyEdits = [:]; s.commandCursor = 0; return []
            case .up:
                // The one before the recalled line (the latest at first), as in a shell.
                guard !s.commandHistory.isEmpty else { return [] }
                keepEdit(&s, text)
                let i = max(0, (s.historyIndex ?? s.commandHistory.count) - 1)
                s.historyIndex = i
                s.mode = .command(s.historyEdits[i] ?? s.commandHistory[i])
                s.commandCursor = 0
                return []
            case .down:
                guard let i = s.historyIndex else { return [] }
                keepEdit(&s, text)
                s.historyIndex = i + 1 < s.commandHistory.count ? i + 1 : nil
                s.mode = .command(s.historyIndex.map { s.historyEdits[$0] ?? s.commandHistory[$0] } ?? s.historyDraft)
                s.commandCursor = 0
                return []
            case .tab:
                // Completes at the end of the line only (as far as the candidates agree).
                guard s.commandCursor == 0 else { return [] }
                if let line = Completion.complete(text) { s.mode = .command(line) }
                else if case let choices = Completion.choices(text), choices.count > 1 { s.completionChoices = Completion.shown(choices) }
                return []
            case .backspace where text.isEmpty, .delete where text.isEmpty: s.mode = .normal; return []
            default:
                // Cursor moves, inserts and deletes, as in a shell.
                guard let line = LineEditor(text: text, fromEnd: s.commandCursor).applying(k) else { return [] }
                s.mode = .command(line.text)
                s.commandCursor = line.fromEnd
                return []
            }
        case .box(let corner):
            switch k {
            case .escape: s.mode = .normal; s.dragStart = nil; s.status = "box cancelled"; return []
            case .char(":"): s.boxToResume = s.mode; s.mode = .command(""); s.commandCursor = 0; return []
            case .enter, .char(" "), .char("b"):
                guard let c = corner else { s.mode = .box(corner: s.cursor); s.status = "corner 1 at \(s.cursor.x), \(s.cursor.y); move and press space again"; return [] }
                // Corners on two slices make a 3D box over the slices between them.
                return addBox(&s, from: c, to: s.cursor, z: (min(c.z, s.cursor.z), max(c.z, s.cursor.z)))
            default: break
            }
        case .normal: break
        }
        let big = max(1, max(s.plane.width, s.plane.height) / 20)
        switch k {
        case .char("q"): return command(&s, "quit")
        case .char("?"): s.mode = .help
        case .char("]"), .pageDown: moveSlice(&s, 1)
        case .char("["), .pageUp: moveSlice(&s, -1)
        case .char("}"): moveSlice(&s, 10)
        case .char("{"): moveSlice(&s, -10)
        case .home: moveSlice(&s, -s.sliceCount)
        case .end: moveSlice(&s, s.sliceCount)
        case .left, .char("h"): moveCursor(&s, -1, 0)
        case .right, .char("l"): moveCursor(&s, 1, 0)
        case .up, .char("k"): moveCursor(&s, 0, -1)
        case .down, .char("j"): moveCursor(&s, 0, 1)
        case .shiftLeft, .char("H"): moveCursor(&s, -big, 0)
        case .shiftRight, .char("L"): moveCursor(&s, big, 0)
        case .shiftUp, .char("K"): moveCursor(&s, 0, -big)
        case .shiftDown, .char("J"): moveCursor(&s, 0, big)
        case .char("b"):
            guard s.axis == .axial else { s.status = "boxes are drawn in the axial view (press a)"; return [] }
            s.mode = .box(corner: nil)
            s.status = "box: move to a corner and press space (Esc cancels)"
        case .char("s"): return command(&s, "segment")
        case .char("w"): return command(&s, "save")
        case .char("g"):
            guard s.hasGroundTruth else { s.status = "no ground truth loaded (--gt FILE)"; return [] }
            s.showGroundTruth.toggle()
            s.status = s.showGroundTruth ? "ground truth shown (g hides it)" : "ground truth hidden (g shows it)"
        case .char("m"):
            s.showMask.toggle()
            s.status = s.showMask ? "masks shown (m hides them)" : "masks hidden (m shows them)"
        case .char("o"):
            s.maskStyle = s.maskStyle == .fill ? .contour : .fill
            s.status = (s.maskStyle == .fill ? "masks filled (o: outlines)" : "masks outlined (o: filled)") + (s.showMask ? "" : "; hidden now (m shows them)")
        case .char("u"): return undo(&s)
        case .ctrl("r"): return redo(&s)
        case .char(":"): s.mode = .command(""); s.commandCursor = 0
        case .tab: select(&s, 1)
        case .backTab: select(&s, -1)
        case .char("d"), .delete: return command(&s, "delete")
        case .char("n"): s.mode = .command("label "); s.commandCursor = 0
        case .char("z"): return command(&s, "zrange \(s.cursor.z) keep")
        case .char("Z"): return command(&s, "zrange keep \(s.cursor.z)")
        case .char("a"): setAxis(&s, .axial)
        case .char("c"): setAxis(&s, .coronal)
        case .char("x"): setAxis(&s, .sagittal)
        case .char("+"), .char("="): s.zoom = min(s.zoom * 1.5, 64); centreOnCursorIfHidden(&s)
        case .char("-"): s.zoom = max(s.zoom / 1.5, 1); if s.zoom == 1 { s.pan = nil }
        case .char("0"): s.zoom = 1; s.pan = nil
        // The narrowest window is relative to the image's range (a 0-1 float image has width < 1).
        case .char("<"): s.window.width = min(s.window.width, max(s.autoWindow.width / 1000, s.window.width / 1.2)); s.windowName = "custom"
        case .char(">"): s.window.width *= 1.2; s.windowName = "custom"; _ = boundWindow(&s)
        case .char(","): s.window.level -= s.window.width / 20; s.windowName = "custom"; _ = boundWindow(&s)
        case .char("."): s.window.level += s.window.width / 20; s.windowName = "custom"; _ = boundWindow(&s)
        case .char("p"): return command(&s, "preset next")
        case .char("B"): return command(&s, "boxes")
        case .escape: s.status = ""
        default: break
        }
        return prefetch(s)
    }

    // MARK: mouse

    static func mouse(_ s: inout AppState, _ kind: MouseKind, col: Int, row: Int) -> [Effect] {
        // A question waits for its key and a command line for Enter: a click or drag on the
        // image must not answer, dismiss or drop them (a drag at the restore question used to
        // draw a box, and its autosave replaced the work waiting to be restored).
        switch s.mode {
        case .normal, .box: break
        case .help: if kind == .press { s.mode = .normal }; return []
        case .command: if kind != .wheelUp && kind != .wheelDown { s.dragStart = nil; return [] }
        case .confirmQuit, .confirmOverwrite, .confirmRestore, .confirmLoad: s.dragStart = nil; return []
        }
        switch kind {
        case .wheelUp: moveSlice(&s, -1); return prefetch(s)
        case .wheelDown: moveSlice(&s, 1); return prefetch(s)
        default: break
        }
        let layout = Layout(s)
        guard let g = layout.geometry else { return [] }
        let (cc, hr) = (col - layout.viewCol, 2 * (row - layout.viewRow))
        // A press starts on the image only; a drag or release outside it ends at its edge.
        guard let p = g.pixel(col: cc, halfRow: hr) ?? (s.dragStart != nil && kind != .press ? g.nearestPixel(col: cc, halfRow: hr) : nil) else {
            return []
        }
        let v = s.frame.voxel(PlanePoint(u: p.x, v: p.y), through: s.cursor)
        switch kind {
        case .press:
            s.cursor = v
            if s.axis == .axial { s.dragStart = v; s.mode = .box(corner: v) }
        case .drag:
            s.cursor = v
            if s.dragStart == nil && s.axis != .axial { s.status = "boxes are drawn in the axial view (press a); here a click moves the cursor" }
        case .release:
            s.cursor = v
            // A drag ends in a box only while its box drawing lasts (Esc, or a box made by a
            // command meanwhile, ended it).
            if let start = s.dragStart {
                s.dragStart = nil
                guard case .box = s.mode else { return [] }
                if start.x != v.x && start.y != v.y { return addBox(&s, from: start, to: v) }
                s.mode = .normal
            }
        default: break
        }
        return []
    }

    // MARK: commands

    static func command(_ s: inout AppState, _ text: String) -> [Effect] {
        let words = text.split(separator: " ").map(String.init)
        guard let verb = words.first?.lowercased() else { return [] }
        s.status = ""   // the last command's message (a usage line, say) is not this one's
        let nums = words.dropFirst().map { Double($0) }
        func ints(_ n: Int) -> [Int]? {
            // Voxel coordinates and slices are whole numbers: 1.5 is a typing slip, not slice 2.
            guard words.count - 1 == n, nums.allSatisfy({ $0 != nil && $0!.isFinite && abs($0!) < 1e9 && $0! == $0!.rounded() }) else { return nil }
            return nums.map { Int($0!.rounded()) }
        }
        // Words after a command that takes none are a slip, not something to ignore.
        if ["undo", "redo", "delete", "segment", "help", "boxes"].contains(verb), words.count > 1 {
            s.status = "\(verb) takes no arguments"
            return []
        }
        if ["q", "quit", "q!", "quit!"].contains(verb), words.count > 2 || (words.count == 2 && words[1] != "!") {
            s.status = "usage: quit [!] (! discards unsaved changes)"
            return []
        }
        switch verb {
        case "q", "quit", "q!", "quit!":
            let force = verb.hasSuffix("!") || (words.count > 1 && words[1] == "!")
            if s.dirty && !force {
                s.mode = .confirmQuit
                s.status = !s.segmenting.isEmpty ? "a segmentation is running and the work is not saved: quit anyway? y/n (w saves)"
                    : s.objects.contains(where: \.stale) ? "boxes not segmented or saved: quit anyway? y/n (s segments, w saves)"
                    : "unsaved changes: quit anyway? y/n (w saves)"
            } else {
                s.quit = true
                if force { return [.discardRecovery] }
            }
        case "slice":
            guard let n = ints(1) else { s.status = "usage: slice N (0...\(s.sliceCount - 1))"; return [] }
            guard s.sliceCount > 1 else { s.status = "this image has one slice"; return [] }
            moveSlice(&s, n[0] - s.sliceIndex)
            if s.sliceIndex != n[0] { s.status = "slice \(n[0]) is outside 0...\(s.sliceCount - 1); at \(s.sliceIndex)" }
            return prefetch(s)
        case "goto":
            guard let n = ints(2) ?? ints(3) else { s.status = "usage: goto X Y [Z]"; return [] }
            let want = Voxel(x: n[0], y: n[1], z: n.count == 3 ? n[2] : s.cursor.z)
            s.cursor = clampVoxel(s, want)
            centreOnCursorIfHidden(&s)
            if s.cursor != want { s.status = "\(want.x) \(want.y) \(want.z) is outside the \(s.width)x\(s.height)x\(s.depth) volume; at \(s.cursor.x) \(s.cursor.y) \(s.cursor.z)" }
            return prefetch(s)
        case "box":
            guard let n = ints(4) ?? ints(6) else { s.status = "usage: box X0 Y0 X1 Y1 [Z0 Z1] (voxel coordinates)"; return [] }
            let (x0, y0, x1, y1) = (min(n[0], n[2]), min(n[1], n[3]), max(n[0], n[2]), max(n[1], n[3]))
            guard x1 >= 0, y1 >= 0, x0 < s.width, y0 < s.height else {
                s.status = "box \(x0) \(y0) \(x1) \(y1) lies outside the \(s.width)x\(s.height) image"; return []
            }
            var z0 = s.cursor.z, z1 = s.cursor.z
            if n.count == 6 {
                (z0, z1) = (min(n[4], n[5]), max(n[4], n[5]))
                guard z1 >= 0, z0 < s.depth else { s.status = "slices \(z0)...\(z1) lie outside 0...\(s.depth - 1)"; return [] }
                (z0, z1) = (max(0, z0), min(s.depth - 1, z1))
            }
            let c = clampVoxel(s, Voxel(x: x0, y: y0, z: z0)), d = clampVoxel(s, Voxel(x: x1, y: y1, z: z1))
            return addBox(&s, from: c, to: d, z: (z0, z1))
        case "zrange":
            guard let i = s.selected else { s.status = "no object selected (Tab selects)"; return [] }
            guard words.count == 3 else { s.status = "usage: zrange Z0 Z1"; return [] }
            var o = s.objects[i]
            let a = words[1] == "keep" ? o.z0 : Int(words[1]), b = words[2] == "keep" ? o.z1 : Int(words[2])
            guard let a, let b else { s.status = "usage: zrange Z0 Z1"; return [] }
            // A range wholly outside the volume is refused; one reaching outside is clipped.
            guard max(a, b) >= 0, min(a, b) <= s.depth - 1 else {
                s.status = "slices \(min(a, b))...\(max(a, b)) lie outside 0...\(s.depth - 1)"; return []
            }
            o.z0 = max(0, min(a, b)); o.z1 = min(s.depth - 1, max(a, b))
            guard o.place != s.objects[i].place else { s.status = "label \(o.label): slices \(o.z0)...\(o.z1), unchanged"; return [] }
            o.stale = true
            edit(&s) { $0.objects[i] = o }
            let asked = (min(a, b), max(a, b))
            s.status = "label \(o.label): slices \(o.z0)...\(o.z1) (s segments)"
                + (asked != (o.z0, o.z1) ? "; \(asked.0)...\(asked.1) reaches outside 0...\(s.depth - 1)" : "")
            return dropSegmentations(&s)
        case "load":
            s.status = "loading..."
            return [.load(path: pathArgument(text))]
        case "segment":
            // Boxes not segmented (or changed since): an empty result is a result, not redone
            // by every `s`, and a box being segmented is not queued a second time.
            let todo = s.objects.filter { $0.stale && s.segmenting[$0.id] != $0.place }
            guard !todo.isEmpty else {
                s.status = s.objects.isEmpty ? "draw a box first (b, or drag with the mouse)"
                    : s.segmenting.isEmpty ? "every object is segmented" : "every box is segmented or being segmented"
                return []
            }
            s.busy = "segmenting \(todo.count) object\(todo.count == 1 ? "" : "s")"
            for o in todo { s.segmenting[o.id] = o.place }
            s.segmentationRecorded = false   // its masks are one new undo step
            return [.segment(todo)]
        case "save", "w":
            s.status = "saving..."
            return [.save(path: pathArgument(text), objects: s.objects, generation: s.generation)]
        case "window":
            guard words.count == 3, let w = nums[0], let l = nums[1], w > 0, w.isFinite, l.isFinite else {
                s.status = "usage: window WIDTH LEVEL"; return []
            }
            s.window = Window(width: w, level: l); s.windowName = "custom"
            if boundWindow(&s) { s.status = "window \(fmtWindow(s.window.width)) \(fmtWindow(s.window.level)): kept within 1000 times the image's range" }
        case "preset":
            return [.prefetch(z: s.cursor.z)] + preset(&s, words.count > 1 ? words[1].lowercased() : "next")
        case "label":
            guard let i = s.selected else { s.status = "no object selected (Tab selects)"; return [] }
            guard let n = ints(1), (1...65535).contains(n[0]) else { s.status = "usage: label N (1...65535)"; return [] }
            guard n[0] != s.objects[i].label else { s.status = "the object has label \(n[0]) already"; return [] }
            edit(&s) { $0.objects[i].label = n[0] }
            s.status = "object relabelled \(n[0])"
            return rescore(&s)
        case "delete":
            guard let i = s.selected else { s.status = "no object selected (Tab selects)"; return [] }
            let label = s.objects[i].label
            edit(&s) { $0.objects.remove(at: i) }
            s.selected = s.objects.isEmpty ? nil : min(i, s.objects.count - 1)
            s.status = "deleted label \(label)"
            return rescore(&s) + dropSegmentations(&s)
        case "view":
            guard words.count == 2, let a = ViewAxis(rawValue: words[1].lowercased()) else { s.status = "usage: view axial|coronal|sagittal"; return [] }
            setAxis(&s, a)
        case "orient":
            let standard = s.standardOrientation, stored = DisplayOrientation.stored
            guard words.count <= 2 else { s.status = "usage: orient [standard|stored]"; return [] }
            guard s.orientationKnown else { s.status = "this image has no known orientation: it is shown as stored"; return [] }
            guard standard != stored else {
                s.status = s.orientationOblique ? "this image's axes lie between the patient's sides (oblique): it is shown as stored"
                    : "as stored, this image is already in the standard orientation"
                return []
            }
            let want: DisplayOrientation
            switch words.count > 1 ? words[1].lowercased() : "toggle" {
            case "standard": want = standard
            case "stored": want = stored
            case "toggle": want = s.orientation == standard ? stored : standard
            default: s.status = "usage: orient [standard|stored]"; return []
            }
            setOrientation(&s, want)
            s.status = s.orientation == standard ? "standard orientation (patient's right at the left, anterior and superior at the top)"
                : "shown as stored (array order)"
        case "undo": return undo(&s)
        case "redo": return redo(&s)
        case "help": s.mode = .help
        case "boxes":
            guard !s.fileBoxes.isEmpty else { s.status = "this file holds no boxes"; return [] }
            let free = withFreeLabels(s.fileBoxes, s)
            // Nothing to add is no edit (no undo step, nothing unsaved).
            guard !free.isEmpty else { s.status = "the labels of the file's \(s.fileBoxes.count) boxes are all in use already; no box added"; return [] }
            let added = free.count
            add(&s, free)
            s.status = "loaded \(added) box\(added == 1 ? "" : "es") from the file (s segments)"
                + (s.fileBoxesOutside > 0 ? "; \(s.fileBoxesOutside) outside the image left out" : "")
        default:
            s.status = "unknown command '\(verb)' (? lists commands)"
        }
        return []
    }

    // MARK: helpers

    static func addBox(_ s: inout AppState, from a: Voxel, to b: Voxel, z: (Int, Int)? = nil) -> [Effect] {
        s.mode = .normal
        let (z0, z1) = z ?? (s.cursor.z, s.cursor.z)
        let o = SegObject(id: s.nextID, label: s.freeLabel, x0: min(a.x, b.x), y0: min(a.y, b.y), x1: max(a.x, b.x), y1: max(a.y, b.y),
                          z0: z0, z1: z1, mask: nil, stale: true)
        s.nextID += 1
        edit(&s) { $0.objects.append(o) }
        s.selected = s.objects.count - 1
        // Short enough for 80 columns beside the slice readout: the label, then what to do.
        s.status = "box \(o.x0) \(o.y0) \(o.x1) \(o.y1) as label \(o.label)" + (s.is3D ? (z0 == z1 ? ", slice \(z0)" : ", slices \(z0)...\(z1)") : "")
            + ": s segments" + (s.is3D ? ", z/Z set slices" : "")
        return []
    }

    /// The candidates whose labels no object has yet: a label already in the list stays as it
    /// is (`B` with the file's boxes, `:load` with a saved segmentation's labels).
    static func withFreeLabels(_ candidates: [SegObject], _ s: AppState) -> [SegObject] {
        let inUse = Set(s.objects.map(\.label))
        return candidates.filter { !inUse.contains($0.label) }
    }

    /// Adds objects as one edit, with ids of this session's own (whatever was drawn while a
    /// file was read), the last of them selected.
    static func add(_ s: inout AppState, _ objects: [SegObject]) {
        edit(&s) { st in
            for var o in objects { o.id = st.nextID; st.nextID += 1; st.objects.append(o) }
        }
        s.selected = s.objects.count - 1
    }

    /// Applies an object edit with an undo record.
    static func edit(_ s: inout AppState, _ change: (inout AppState) -> Void) {
        record(&s)
        change(&s)
        s.generation += 1
        s.dirty = true
    }

    static func record(_ s: inout AppState) {
        s.undoStack.append(s.objects)
        if s.undoStack.count > maxUndo { s.undoStack.removeFirst() }
        s.redoStack = []
        s.segmentationRecorded = false
    }

    static func undo(_ s: inout AppState) -> [Effect] {
        guard let prev = s.undoStack.popLast() else { s.status = "nothing to undo"; return [] }
        s.redoStack.append(s.objects)
        s.objects = prev
        return afterHistory(&s, "undone", from: s.redoStack.last!)
    }

    static func redo(_ s: inout AppState) -> [Effect] {
        guard let next = s.redoStack.popLast() else { s.status = "nothing to redo"; return [] }
        s.undoStack.append(s.objects)
        s.objects = next
        return afterHistory(&s, "redone", from: s.undoStack.last!)
    }

    /// After undo or redo: the masks changed, so the scores are recomputed (the panel showed
    /// the old ones); the recovery file follows (`reduce`).
    static func afterHistory(_ s: inout AppState, _ word: String, from before: [SegObject]) -> [Effect] {
        s.generation += 1
        // The object the step brought back or changed is selected (so `d` acts on what the
        // user sees come back, not on whatever was selected before).
        if let i = s.objects.firstIndex(where: { o in !before.contains(o) }) { s.selected = i }
        // Back to what the last save wrote (or to nothing, before any): nothing is unsaved, and
        // no recovery file is needed.
        s.dirty = !s.cleanStates.contains(s.objects)
        if let i = s.selected, i >= s.objects.count { s.selected = s.objects.isEmpty ? nil : s.objects.count - 1 }
        if s.selected == nil && !s.objects.isEmpty { s.selected = s.objects.count - 1 }
        s.status = "\(word) (\(s.objects.count) object\(s.objects.count == 1 ? "" : "s"))"
            + (s.dirty ? "" : s.objects.isEmpty ? ", as opened: nothing unsaved" : ", as saved")
        return rescore(&s) + stopSegmentations(&s)
    }

    /// An undo or redo stops every segmentation under way: its result would land on a state
    /// the user has left. Boxes still unsegmented wait for the next `s`.
    static func stopSegmentations(_ s: inout AppState) -> [Effect] {
        let effects = stopSegmentations(of: Set(s.segmenting.keys), &s)
        if !effects.isEmpty { s.status += "; segmentation stopped (s segments)" }
        return effects
    }

    /// These objects wait for their segmentation no more; its queued work is dropped and a
    /// running one stops at its next slice.
    static func stopSegmentations(of ids: Set<Int>, _ s: inout AppState) -> [Effect] {
        guard !ids.isEmpty else { return [] }
        for id in ids { s.segmenting[id] = nil }
        settleBusy(&s)
        return [.cancelSegmentation(ids)]
    }

    /// The busy mark ends when no object on screen waits for its mask.
    static func settleBusy(_ s: inout AppState) {
        let waiting = s.objects.filter { s.segmenting[$0.id] == $0.place }.count
        // The finished object's progress ("segmenting label 14: 9/9 slices") does not stay up
        // while the next one starts.
        s.busy = waiting == 0 ? nil : "segmenting \(waiting) object\(waiting == 1 ? "" : "s")"
    }

    /// A segmentation came back (a mask, a stop or a failure): the object no longer waits for it,
    /// unless a newer request for the same object (another box) is on its way.
    static func finished(_ s: inout AppState, _ sent: SegObject) {
        if s.segmenting[sent.id] == sent.place { s.segmenting[sent.id] = nil }
        settleBusy(&s)
    }

    /// The PATH of `save PATH` or `load PATH` (spaces kept; ~ is the home directory, as in the
    /// shell), nil when none is given.
    static func pathArgument(_ text: String) -> String? {
        // The rest of the line as typed (two spaces in a name stay two), after the verb and
        // the spaces that follow it.
        let path = String(text.drop { $0 == " " }.drop { $0 != " " }.drop { $0 == " " })
        guard !path.isEmpty else { return nil }
        return PathText.expandingTilde(path)
    }

    /// What a save of `objects` leaves out or keeps old: "; 1 unsegmented box is left out; 2
    /// changed boxes are saved with their earlier masks" (empty when every box is segmented as
    /// it stands). Boxes not segmented since drawn or changed are the stale ones.
    static func boxCaveats(_ objects: [SegObject], unsegmentedVerb: String, changedVerb: String) -> String {
        let unsegmented = objects.filter { $0.stale && $0.mask == nil }.count, changed = objects.filter { $0.stale && $0.mask != nil }.count
        func plural(_ verb: String, _ n: Int) -> String { n == 1 ? verb : verb.replacingOccurrences(of: "is ", with: "are ") }
        return (unsegmented > 0 ? "; \(unsegmented) unsegmented box\(unsegmented == 1 ? "" : "es") \(plural(unsegmentedVerb, unsegmented))" : "")
            + (changed > 0 ? "; \(changed) changed box\(changed == 1 ? "" : "es") \(plural(changedVerb, changed)) with \(changed == 1 ? "its earlier mask" : "their earlier masks")" : "")
    }

    /// Up or Down leaves the line shown: the line being typed is kept as the draft, an edited
    /// recalled line as its edit (shown when recalled again, until the line is entered), as in bash.
    static func keepEdit(_ s: inout AppState, _ text: String) {
        guard let i = s.historyIndex else { s.historyDraft = text; return }
        s.historyEdits[i] = text == s.commandHistory[i] ? nil : text
    }

    /// The end of a run of segmentations (its last mask in, or the last one failed or was
    /// stopped): its count starts again.
    static func endBatchIfIdle(_ s: inout AppState) {
        if s.segmenting.isEmpty { s.batch = (0, 0) }
    }

    /// Requests whose box is no longer on screen (undone, deleted, or given other slices): their
    /// queued work is dropped and a running one stops at its next slice (a single slice
    /// finishes, and its mask goes to the history of that box). They wait no more.
    static func dropSegmentations(_ s: inout AppState) -> [Effect] {
        stopSegmentations(of: Set(s.segmenting.filter { id, place in !s.objects.contains { $0.id == id && $0.place == place } }.keys), &s)
    }

    /// The objects changed: their scores are computed anew, and until they come the panel says
    /// so instead of showing the old ones (they stayed up for seconds after a new mask).
    static func rescore(_ s: inout AppState) -> [Effect] {
        guard s.hasGroundTruth else { return [] }
        s.scores = nil
        return [.score(objects: s.objects, generation: s.generation)]
    }

    static func prefetch(_ s: AppState) -> [Effect] { s.axis == .axial ? [.prefetch(z: s.cursor.z)] : [] }

    static func select(_ s: inout AppState, _ step: Int) {
        guard !s.objects.isEmpty else { s.status = "no objects yet"; return }
        let n = s.objects.count
        s.selected = ((s.selected ?? (step > 0 ? -1 : 0)) + step + n) % n
        let o = s.objects[s.selected!]
        s.status = "selected label \(o.label)"
        if s.is3D, !(o.z0 <= s.cursor.z && s.cursor.z <= o.z1) { s.cursor.z = (o.z0 + o.z1) / 2 }
    }

    static func moveSlice(_ s: inout AppState, _ delta: Int) {
        let n = max(0, min(s.sliceCount - 1, s.sliceIndex + delta))
        switch s.axis {
        case .axial: s.cursor.z = n
        case .coronal: s.cursor.y = n
        case .sagittal: s.cursor.x = n
        }
    }

    static func moveCursor(_ s: inout AppState, _ du: Int, _ dv: Int) {
        let p = s.cursorPoint, plane = s.plane
        let q = PlanePoint(u: max(0, min(plane.width - 1, p.u + du)), v: max(0, min(plane.height - 1, p.v + dv)))
        s.cursor = s.frame.voxel(q, through: s.cursor)
        centreOnCursorIfHidden(&s)
    }

    static func centreOnCursorIfHidden(_ s: inout AppState) {
        guard s.zoom > 1, let g = Layout(s).geometry else { return }
        let p = s.cursorPoint
        let c = g.halfCell(x: p.u, y: p.v)
        if c.col < 0 || c.col >= g.cols || c.halfRow < 0 || c.halfRow >= 2 * g.rows {
            s.pan = (Double(p.u) + 0.5, Double(p.v) + 0.5)
        }
    }

    static func setAxis(_ s: inout AppState, _ a: ViewAxis) {
        guard s.is3D || a == .axial else { s.status = "a 2D image has only one view"; return }
        s.axis = a
        s.pan = nil
        s.zoom = 1
        s.status = "\(a.rawValue) view"
    }

    /// Turns the views; a zoomed view keeps showing the same part of the image.
    static func setOrientation(_ s: inout AppState, _ o: DisplayOrientation) {
        let (old, new) = (s.orientation[s.axis], o[s.axis]), plane = s.plane
        if let p = s.pan {
            s.pan = (old.u != new.u ? Double(plane.width) - p.u : p.u, old.v != new.v ? Double(plane.height) - p.v : p.v)
        }
        s.orientation = o
    }

    static func clampVoxel(_ s: AppState, _ v: Voxel) -> Voxel {
        Voxel(x: max(0, min(s.width - 1, v.x)), y: max(0, min(s.height - 1, v.y)), z: max(0, min(s.depth - 1, v.z)))
    }

    /// Window presets: CT ones in HU, "auto" = the session's percentile window (set by the runner).
    /// On an image without HU values `p` stays on auto (a CT window would show it black or
    /// white); `:preset NAME` still sets one, saying so.
    static func preset(_ s: inout AppState, _ name: String) -> [Effect] {
        let order: [WindowPreset] = [.auto, .softTissue, .lung, .bone, .brain]
        var p: WindowPreset
        if name == "next" {
            let i = order.firstIndex { $0.rawValue == s.windowName } ?? -1
            p = s.holdsHU ? order[(i + 1) % order.count] : .auto
        } else {
            guard let q = WindowPreset(rawValue: name) else {
                s.status = "unknown preset \(name); presets: " + order.map(\.rawValue).joined(separator: ", "); return []
            }
            p = q
        }
        s.window = p.ctWindow ?? s.autoWindow
        s.windowName = p.rawValue
        s.status = "window \(p.rawValue): width \(fmtWindow(s.window.width)) level \(fmtWindow(s.window.level))"
        if !s.holdsHU && p.ctWindow != nil { s.status += " HU, but this image's values are not HU" }
        if !s.holdsHU && name == "next" { s.status += " (CT presets need HU)" }
        return []
    }
}

func fmt(_ v: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", v)
}

/// Keeps the window within 1000 times the image's automatic width of its level (`:window 1e308 1`
/// and a few `>` reached infinity, and the title printed 300-digit numbers); true if it moved.
func boundWindow(_ s: inout AppState) -> Bool {
    let span = 1000 * max(s.autoWindow.width, 1e-6), old = s.window
    s.window.width = min(s.window.width, span)
    s.window.level = min(max(s.window.level, s.autoWindow.level - span), s.autoWindow.level + span)
    return s.window != old
}

/// "60 ms" below a second, "93.9 s" from there.
func duration(_ seconds: Double) -> String {
    seconds < 1 ? "\(fmt(seconds * 1000, 0)) ms" : "\(fmt(seconds, 1)) s"
}

/// A window width or level: whole numbers from 100 up (HU, MR intensities), three significant
/// digits below (a 0-1 float image's window is 0.75, not 1).
func fmtWindow(_ v: Double) -> String {
    abs(v) >= 100 ? String(format: "%.0f", v) : String(format: "%.3g", v)
}
