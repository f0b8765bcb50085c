// The event loop: terminal input and background results become actions; the reducer changes
// the state and asks for effects; the screen is redrawn as a diff of cell grids.
import Foundation
import Render
import SegEngine
import Volumes

final class WorkbenchApp: @unchecked Sendable {
    private var state: AppState
    private let session: Session
    private let terminal = Terminal()
    private let inbox = NSLock()
    private var pending: [Action] = []
    private lazy var worker = SegWorker(session: session, modelPath: modelPath, precision: precision) { [weak self] in self?.post($0) }
    private lazy var scorer = Scorer(session: session) { [weak self] in self?.post($0) }
    private let saveQueue = DispatchQueue(label: "medseg.save")
    private lazy var recovery = RecoveryWriter(queue: saveQueue, write: { [unowned self] objects in
        do { try Persistence.autosave(objects, session: session) } catch { post(.message("autosave failed: \(error)")) }
    }, discard: { [unowned self] in Persistence.discardRecovery(for: session) })
    /// Files this session saved, as written (device, inode, size, time): `w` replaces them
    /// without asking, under any spelling of the path, but not once someone else has replaced
    /// or rewritten them.
    private var written = Set<[Int]>()
    /// The image and ground-truth files: never a save target.
    private let inputs: [String]
    private let modelPath: String?
    private let precision: Precision

    init(session: Session, modelPath: String?, precision: Precision = .fp32, inputs: [String] = []) {
        self.precision = precision
        self.inputs = inputs
        self.session = session
        self.modelPath = modelPath
        let v = session.volume
        var s = AppState(depth: v.depth, height: v.height, width: v.width, spacing: v.spacing, is3D: v.is3D,
                         hasGroundTruth: session.groundTruth != nil, window: session.initialWindow.0,
                         windowName: session.initialWindow.1, autoWindow: session.autoWindow)
        s.fileBoxes = Self.fileObjects(session.image.boxes, depth: v.depth, height: v.height, width: v.width)
        s.showGroundTruth = session.groundTruth != nil
        s.holdsHU = session.image.looksLikeCT
        s.standardOrientation = session.standardOrientation
        s.orientationKnown = session.hasKnownOrientation
        s.orientationOblique = s.orientationKnown && DisplayOrientation.isOblique(affine: v.affine)
        s.orientation = s.standardOrientation
        let outside = session.image.boxes.count - s.fileBoxes.count
        s.fileBoxesOutside = outside
        s.status = "b draws a box, s segments, ? lists keys" + (s.fileBoxes.isEmpty ? "" : "; B loads the file's \(s.fileBoxes.count) box\(s.fileBoxes.count == 1 ? "" : "es")")
            + (outside > 0 ? " (\(outside) outside the image left out)" : "")
        var notes: [String] = []
        if v.is3D, let note = session.image.spacingNote {
            s.spacingNote = note
            notes.append(note)
        }
        s.recoveryOff = !Persistence.claimRecovery(for: session)
        if s.recoveryOff {
            notes.append("this image is open in another medseg: this session keeps no recovery file (w saves)")
        } else if let aside = Persistence.setAsideIfForAnotherImage(session) {
            // The folder, not the long file name, so the note fits: it is named for this image.
            notes.append("another image's unsaved work kept in \(tildePath(PathText.parent(aside)))")
        } else if Persistence.hasRecovery(for: session) {
            s.mode = .confirmRestore
            s.restoreSummary = Persistence.recoverySummary(for: session)
        }
        // A segmentation saved earlier is not lost from view: `:load` brings it back as objects.
        if FileManager.default.fileExists(atPath: session.outputPath) {
            notes.append("\((session.outputPath as NSString).lastPathComponent) exists (:load reads it)")
        }
        if !notes.isEmpty {
            s.openNote = notes.joined(separator: "; ")
            s.status = "note: \(s.openNote!) · " + s.status
        }
        state = s
    }

    func post(_ a: Action) {
        inbox.lock(); pending.append(a); inbox.unlock()
    }

    func run() throws -> Int32 {
        try terminal.open()
        defer {
            terminal.close()
            if !state.recoveryOff { Persistence.releaseRecovery(for: session) }
        }
        let mode = ColorMode.detect(environment: ProcessInfo.processInfo.environment, terminalColors: terminal.terminfoColors)
        state.screen = terminal.size
        worker.start()
        defer { worker.stop() }
        perform(Reducer.prefetch(state))
        var last: CellGrid? = nil
        var needsDraw = true
        while !state.quit {
            if needsDraw {
                let grid = Screen.draw(state, session, mode: mode)
                terminal.write(ANSI.frame(grid, previous: last, mode: mode))
                // Keys typed while the program started were not meant for the restore question
                // (an `n`, the relabel key, discarded a crash's work): it is answered only once seen.
                if last == nil && state.mode == .confirmRestore { terminal.discardTypeahead() }
                last = grid
                needsDraw = false
            }
            var actions = terminal.read(timeoutMs: 40)
            inbox.lock(); actions += pending; pending = []; inbox.unlock()
            for a in actions {
                if case .resize = a { terminal.resetAfterResize(); last = nil }
                if case .saved(let path, _, _) = a, let v = OutputPaths.version(path) { written.insert(v) }
                if case .key(.ctrl("c")) = a {
                    perform(Reducer.reduce(&state, .command("quit")))
                } else {
                    perform(Reducer.reduce(&state, a))
                }
                // The file `w` writes, loaded as objects: `w` may write over it without asking.
                // Any other file loaded (an image, a case's gts) is asked about as before.
                if let path = state.loadedFrom {
                    state.loadedFrom = nil
                    if OutputPaths.sameFile(path, session.outputPath), let v = OutputPaths.version(path) { written.insert(v) }
                }
                needsDraw = true
                if state.quit { break }
            }
        }
        saveQueue.sync {}
        return 0
    }

    private func perform(_ effects: [Effect]) {
        for e in effects {
            switch e {
            case .segment(let objects): worker.segment(objects)
            case .cancelSegmentation(let ids): worker.cancel(ids)
            case .prefetch(let z): worker.prefetch(around: z)
            case .score(let objects, let generation): scorer.score(objects, generation: generation)
            case .save(let path, let objects, let generation, let force):
                let target = path ?? session.outputPath
                if inputs.contains(where: { OutputPaths.sameFile($0, target) }) {
                    post(.saveFailed("\(target) is the open image or its ground truth; :save PATH saves elsewhere"))
                    continue
                }
                if let why = Persistence.unusableTarget(target, session: session) {
                    post(.saveFailed(why))
                    continue
                }
                // A file from before this session (an earlier result, say) is not replaced unasked.
                if !force && FileManager.default.fileExists(atPath: target) && !(OutputPaths.version(target).map(written.contains) ?? false) {
                    post(.overwriteAsked(path: target))
                    continue
                }
                saveQueue.async { [self] in
                    let t0 = Date()
                    do {
                        try Persistence.save(objects, session: session, to: target)
                        post(.saved(path: target, seconds: Date().timeIntervalSince(t0), generation: generation))
                    } catch { post(.saveFailed("\(error)")) }
                }
            case .autosave where state.recoveryOff, .discardRecovery where state.recoveryOff, .restore where state.recoveryOff:
                continue
            case .autosave(let objects):
                recovery.autosave(objects)
            case .restore:
                saveQueue.async { [self] in
                    do { post(.restored(try Persistence.restore(session: session))) } catch { post(.message("cannot restore: \(error)")) }
                }
            case .discardRecovery:
                recovery.discardRecovery()
            case .load(let path):
                let source = path ?? session.outputPath
                saveQueue.async { [self] in
                    do { post(.loaded(try Persistence.load(source, session: session), path: source)) }
                    catch { post(.message("not loaded: \(error)")) }
                }
            }
        }
    }
}

/// A path under the home directory written from ~, as the shell would.
func tildePath(_ path: String) -> String {
    let home = PathText.home
    return !home.isEmpty && home != "/" && path.hasPrefix(home + "/") ? "~" + path.dropFirst(home.count) : path
}

extension WorkbenchApp {
    /// The file's boxes as objects, clipped to the volume; one that misses it is left out (as
    /// `segment` skips it). Each keeps the file's corners, clipped as `segment` clips them.
    static func fileObjects(_ boxes: [Box3DOr2D], depth: Int, height: Int, width: Int) -> [SegObject] {
        boxes.enumerated().compactMap { i, b in
            let (xy, z0, z1): (Box2D, Int, Int)
            switch b { case .flat(let f): (xy, z0, z1) = (f, 0, 0); case .stack(let t): (xy, z0, z1) = (t.xy, t.z0, t.z1) }
            guard let e = xy.clipped(height: height, width: width), min(z0, z1) < depth, max(z0, z1) >= 0 else { return nil }
            // Drawn at the nearest voxels.
            func c(_ v: Double, _ n: Int) -> Int { max(0, min(n - 1, Int(v.rounded()))) }
            return SegObject(id: i + 1, label: i + 1, x0: c(e[0], width), y0: c(e[1], height), x1: c(e[2], width), y1: c(e[3], height),
                             z0: max(0, min(z0, z1)), z1: min(depth - 1, max(z0, z1)), mask: nil, stale: true, exact: e)
        }
    }
}
