// The engine's thread: loads the model, segments objects (first), and computes slice
// embeddings ahead around the slice being viewed (when idle). Reports back as actions.
import Foundation
import SegEngine
import Volumes

final class SegWorker: @unchecked Sendable {
    private let session: Session
    private let modelPath: String?
    private let precision: Precision
    private let post: @Sendable (Action) -> Void
    private let cond = NSCondition()
    private var jobs: [SegObject] = []
    /// The object being segmented, and whether it was cancelled meanwhile.
    private var runningID: Int? = nil
    private var runningCancelled = false
    private var wantedSlice: Int? = nil
    private var stopped = false
    private var segmenter: Segmenter?
    private var modelError: String?
    /// Seconds an encode took in the last run that timed one (the engine thread's own).
    private var encodePace: Double?
    /// Slices to embed on each side of the viewed one.
    let lookahead = 2

    init(session: Session, modelPath: String?, precision: Precision, post: @escaping @Sendable (Action) -> Void) {
        self.precision = precision
        self.session = session
        self.modelPath = modelPath
        self.post = post
    }

    func start() {
        let t = Thread { [self] in run() }
        t.stackSize = 16 << 20
        t.name = "medseg-engine"
        t.start()
    }

    func stop() { cond.lock(); stopped = true; cond.signal(); cond.unlock() }

    func segment(_ objects: [SegObject]) {
        cond.lock()
        for o in objects { jobs.removeAll { $0.id == o.id }; jobs.append(o) }
        cond.signal(); cond.unlock()
    }

    /// Drops the queued jobs of these objects; one already running stops at its next slice (a
    /// 3D object) or finishes (a single slice).
    func cancel(_ ids: Set<Int>) {
        cond.lock()
        jobs.removeAll { ids.contains($0.id) }
        if let r = runningID, ids.contains(r) { runningCancelled = true }
        cond.unlock()
    }

    private var cancelled: Bool { cond.lock(); defer { cond.unlock() }; return runningCancelled }

    func prefetch(around z: Int) {
        cond.lock(); wantedSlice = z; cond.signal(); cond.unlock()
    }

    private func run() {
        loadModel()
        while true {
            cond.lock()
            while !stopped && jobs.isEmpty && nextPrefetch() == nil { cond.wait() }
            if stopped { cond.unlock(); return }
            let job = jobs.isEmpty ? nil : jobs.removeFirst()
            let z = job == nil ? nextPrefetch() : nil
            (runningID, runningCancelled) = (job?.id, false)
            cond.unlock()
            if let job {
                run(job)
                cond.lock(); runningID = nil; cond.unlock()
            } else if let z, let seg = segmenter {
                _ = seg.encode(session.modelSlice(z), key: z)
                post(.embedded(total: seg.cache.count))
            }
        }
    }

    /// The nearest slice around the wanted one without an embedding (called with the lock held).
    private func nextPrefetch() -> Int? {
        guard let w = wantedSlice, let seg = segmenter, session.volume.is3D || w == 0 else { return nil }
        for d in [0, 1, -1, 2, -2].filter({ abs($0) <= lookahead }) {
            let z = w + d
            if z >= 0, z < session.depth, !seg.cache.contains(z) { return z }
        }
        return nil
    }

    /// The encodes and decodes the objects waiting still need, after the running one (whose
    /// slices `running` will be embedded by then).
    private func queuedWork(after running: ClosedRange<Int>, cache: EmbeddingCache) -> (encodes: Int, decodes: Int) {
        cond.lock(); let waiting = jobs; cond.unlock()
        return Self.work(of: waiting, depth: session.depth, after: running, cached: cache.contains)
    }

    /// Slices to embed (neither cached nor in `running`, each once) and slice decodes of `objects`.
    static func work(of objects: [SegObject], depth: Int, after running: ClosedRange<Int>,
                     cached: (Int) -> Bool) -> (encodes: Int, decodes: Int) {
        var slices = Set<Int>(), decodes = 0
        for o in objects {
            let z0 = max(0, min(o.z0, o.z1)), z1 = min(depth - 1, max(o.z0, o.z1))
            guard z0 <= z1 else { continue }
            decodes += z1 - z0 + 1
            slices.formUnion(z0...z1)
        }
        return (slices.filter { !running.contains($0) && !cached($0) }.count, decodes)
    }

    private func loadModel() {
        post(.progress("loading model"))
        do {
            let t0 = Date()
            var warning: String?
            let model = try DataHome.loadModel(modelPath, precision: precision) { warning = $0 }
            let s = Segmenter(model: model, cacheBytes: 1 << 30)
            cond.lock(); segmenter = s; cond.signal(); cond.unlock()
            post(.progress(nil))
            let ms = Int(Date().timeIntervalSince(t0) * 1000)
            // How the model sees a non-byte image, else what to do next.
            let sees = session.modelWindowNote.map { "; \($0)" } ?? ""
            post(.modelLoaded(warning.map { "warning: \($0)" } ?? "model loaded (\(precision.rawValue), \(ms) ms)\(sees)",
                              hint: warning == nil && sees.isEmpty))
        } catch {
            cond.lock(); modelError = "\(error)"; cond.unlock()
            post(.progress(nil))
            post(.modelLoaded("no model, segmentation unavailable: \(error)", hint: false))
        }
    }

    private func run(_ o: SegObject) {
        guard let seg = segmenter else {
            post(.segmentFailed(o, message: modelError ?? "model not loaded"))
            return
        }
        let t0 = Date()
        let (d, h, w) = (session.depth, session.height, session.width)
        let z0 = max(0, min(o.z0, o.z1)), z1 = min(d - 1, max(o.z0, o.z1))
        var mask: ObjectMask?
        var slices = 1
        if !session.volume.is3D || z0 == z1 {
            post(.segmentProgress(o, text: "segmenting label \(o.label)"))
            let m = seg.segment(session.modelSlice(z0), boxes: [o.pixelBox], key: z0)[0]
            mask = m.withUnsafeBufferPointer { p in
                ObjectMask.crop({ p[$0 - z0 * h * w] != 0 }, depth: d, height: h, width: w, zRange: z0...z0)
            }
        } else {
            slices = z1 - z0 + 1
            var complete = false
            let labels = seg.segment3D(depth: d, height: h, width: w, slice: { self.session.modelSlice($0) },
                                       boxes: [StackBox(box: o.pixelBox, z0: z0, z1: z1)], strategy: .propagate,
                                       progress: { p in
                complete = p.done == p.total
                let elapsed = Date().timeIntervalSince(t0)
                let (encodes, decodes) = self.queuedWork(after: z0...z1, cache: seg.cache)
                if p.encoded > 0 { self.encodePace = p.encodeSeconds / Double(p.encoded) }
                self.post(.segmentProgress(o, text: "segmenting label \(o.label): \(p.done)/\(p.total) slices"
                    + TimeLeft.text(p.secondsLeft(elapsed: elapsed, moreEncodes: encodes, moreDecodes: decodes, encodePace: self.encodePace),
                                    done: p.done, total: p.total, elapsed: elapsed)))
            }, stop: { self.cancelled })
            guard complete else {
                post(.segmentStopped(o))
                post(.embedded(total: seg.cache.count))
                return
            }
            mask = labels.withUnsafeBufferPointer { p in
                ObjectMask.crop({ p[$0] != 0 }, depth: d, height: h, width: w, zRange: z0...z1)
            }
        }
        post(.segmented(o, mask: mask, seconds: Date().timeIntervalSince(t0), slices: slices))
        post(.embedded(total: seg.cache.count))
    }
}

/// Scores predicted objects against the ground truth, off the UI thread (latest request wins).
final class Scorer: @unchecked Sendable {
    private let session: Session
    private let queue = DispatchQueue(label: "medseg.scorer")
    private let post: @Sendable (Action) -> Void
    private var latest = 0
    private let lock = NSLock()

    init(session: Session, post: @escaping @Sendable (Action) -> Void) {
        self.session = session
        self.post = post
    }

    func score(_ objects: [SegObject], generation: Int) {
        lock.lock(); latest = generation; lock.unlock()
        queue.async { [self] in
            lock.lock(); let current = latest == generation; lock.unlock()
            guard current, let gt = session.groundTruth else { return }
            post(.scored(Scorer.scores(objects, gt: gt, session: session), generation: generation))
        }
    }

    /// Per predicted label DSC and NSD (official definitions, tolerance 2 mm), computed on the
    /// labels that have objects; gt labels without an object are listed as not predicted.
    static func scores(_ objects: [SegObject], gt: LabelMap, session: Session) -> Scores {
        let (d, h, w) = (session.depth, session.height, session.width)
        let pred = composite(objects, depth: d, height: h, width: w)
        var present = Set<Int>()
        for v in gt.labels where v != 0 { present.insert(Int(v)) }
        let predicted = Array(Set(objects.filter { $0.mask != nil }.map(\.label))).sorted()
        // Compact label numbering 1...k over the predicted labels, everything else background.
        var remap = [Int: UInt16]()
        for (i, l) in predicted.enumerated() { remap[l] = UInt16(i + 1) }
        let g2 = gt.labels.map { remap[Int($0)] ?? 0 }, p2 = pred.map { remap[Int($0)] ?? 0 }
        var rows: [LabelScoreRow] = []
        if !predicted.isEmpty {
            let spacing = session.volume.is3D ? session.volume.spacing : [1, 1]
            let shape = session.volume.is3D ? [d, h, w] : [h, w]
            let r = Metrics.evaluate(pred: p2, gt: g2, shape: shape, spacing: spacing, is3D: session.volume.is3D, officialGate: false)
            for s in r.labels { rows.append(LabelScoreRow(label: predicted[s.label - 1], dsc: s.dsc, nsd: s.nsd)) }
            // Predicted labels absent from the ground truth score 0 (maxLabel cut them off).
            for l in predicted.dropFirst(r.labels.count) { rows.append(LabelScoreRow(label: l, dsc: present.contains(l) ? .nan : 0, nsd: 0)) }
        }
        let valid = rows.filter { !$0.dsc.isNaN }
        let mean = { (f: (LabelScoreRow) -> Double) in valid.isEmpty ? Double.nan : valid.map(f).reduce(0, +) / Double(valid.count) }
        return Scores(rows: rows, meanDSC: mean(\.dsc), meanNSD: mean { $0.nsd.isNaN ? 0 : $0.nsd }, gtLabels: present.count,
                      notPredicted: present.subtracting(predicted).sorted())
    }
}
