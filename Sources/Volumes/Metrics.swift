// DSC and NSD per case exactly as the CVPR 2024 MedSAM-on-Laptop challenge scores them
// (bowang-lab/MedSAM, CVPR24_compute_metrics.py, with SurfaceDice.py = DeepMind surface-distance):
//
//   def compute_multi_class_dsc(gt, seg):
//       for i in range(1, gt.max()+1): dsc.append(compute_dice_coefficient(gt == i, seg == i))
//       return np.mean(dsc)                       # NaN for a label absent from both -> case NaN
//   dsc = compute_multi_class_dsc(gts, segs)
//   if dsc > 0.2:                                 # else nsd = 0.0
//       if npz_name.startswith('3D'): nsd = compute_multi_class_nsd(gts, segs, spacing)   # npz spacing
//       else: nsd = compute_multi_class_nsd(np.expand_dims(gts, -1), np.expand_dims(segs, -1), [1.0, 1.0, 1.0])
//
// compute_multi_class_nsd iterates the same labels and takes np.mean of
// compute_surface_dice_at_tolerance(compute_surface_distances(gt_i, seg_i, spacing), 2.0).
// The 2D call makes (H, W, 1) volumes, so every foreground pixel has surfels (its faces along
// the thin third axis): reproduced here by treating a 2D map as [H, W, 1] with spacing 1.
import Dispatch

/// DSC and NSD of one label; NaN where the official code gives NaN.
public struct LabelScore: Sendable, Equatable {
    public let label: Int
    public let dsc: Double
    public let nsd: Double
}

/// A case's per-label scores and the case means as the official script computes them.
public struct CaseScore: Sendable {
    public let labels: [LabelScore]
    public let dsc: Double
    /// 0 when the case DSC is not above 0.2 (then per-label NSD is not computed and reported 0).
    public let nsd: Double
}

public enum Metrics {
    /// 2|A∩B| / (|A| + |B|); NaN when both are empty.
    public static func dice(intersection: Int, sizeA: Int, sizeB: Int) -> Double {
        let sum = sizeA + sizeB
        return sum == 0 ? .nan : 2 * Double(intersection) / Double(sum)
    }

    /// Scores a predicted label map against the ground truth (same shape: [D,H,W] or [H,W]).
    /// `spacing` is per array axis (3D only; 2D uses the official [1,1,1]).
    /// `officialGate`: the challenge reports NSD 0 for a case whose mean DSC is at most 0.2; pass
    /// false for per-label NSD regardless (the workbench's live panel).
    public static func evaluate(pred: [UInt16], gt: [UInt16], shape: [Int], spacing: [Double],
                                tolerance: Double = 2, is3D: Bool, officialGate: Bool = true) -> CaseScore {
        precondition(pred.count == gt.count && gt.count == shape.reduce(1, *))
        let grid = shape.count == 3 ? shape : shape + [1]
        let sp = is3D && spacing.count == 3 ? spacing : [1, 1, 1]
        let maxLabel = Int(gt.max() ?? 0)
        guard maxLabel > 0 else { return CaseScore(labels: [], dsc: .nan, nsd: 0) }

        // One pass: sizes, intersections and bounding boxes (of gt ∪ pred) of labels 1...maxLabel.
        var sizeGt = [Int](repeating: 0, count: maxLabel + 1), sizePred = sizeGt, inter = sizeGt
        var lo = [[Int]](repeating: [Int.max, Int.max, Int.max], count: maxLabel + 1)
        var hi = [[Int]](repeating: [-1, -1, -1], count: maxLabel + 1)
        let (n1, n2) = (grid[1], grid[2])
        func grow(_ l: Int, _ i: Int, _ j: Int, _ k: Int) {
            if i < lo[l][0] { lo[l][0] = i }; if i > hi[l][0] { hi[l][0] = i }
            if j < lo[l][1] { lo[l][1] = j }; if j > hi[l][1] { hi[l][1] = j }
            if k < lo[l][2] { lo[l][2] = k }; if k > hi[l][2] { hi[l][2] = k }
        }
        gt.withUnsafeBufferPointer { g in pred.withUnsafeBufferPointer { p in
            var idx = 0
            for i in 0..<grid[0] { for j in 0..<n1 { for k in 0..<n2 {
                let a = Int(g[idx]), b = Int(p[idx])
                idx += 1
                if a == 0 && b == 0 { continue }
                if a > 0 { sizeGt[a] += 1; grow(a, i, j, k) }
                if b > 0 && b <= maxLabel {
                    sizePred[b] += 1
                    if b != a { grow(b, i, j, k) }
                }
                if a > 0 && a == b { inter[a] += 1 }
            } } }
        } }

        let dscs = (1...maxLabel).map { dice(intersection: inter[$0], sizeA: sizeGt[$0], sizeB: sizePred[$0]) }
        let caseDSC = dscs.reduce(0, +) / Double(maxLabel)
        guard caseDSC > 0.2 || !officialGate else {
            return CaseScore(labels: (1...maxLabel).map { LabelScore(label: $0, dsc: dscs[$0 - 1], nsd: 0) }, dsc: caseDSC, nsd: 0)
        }
        var nsds = [Double](repeating: .nan, count: maxLabel + 1)
        let lock = DispatchQueue(label: "medseg.metrics")
        DispatchQueue.concurrentPerform(iterations: maxLabel) { t in
            let l = t + 1
            guard hi[l][0] >= 0 else { return }  // empty in both: NaN
            let label = UInt16(l)
            let v = gt.withUnsafeBufferPointer { g in pred.withUnsafeBufferPointer { p in
                SurfaceDistance.compute(shape: grid, lo: lo[l], hi: hi[l], spacing: sp,
                                        gt: { g[$0] == label }, pred: { p[$0] == label }).surfaceDice(tolerance: tolerance)
            } }
            lock.sync { nsds[l] = v }
        }
        let labels = (1...maxLabel).map { LabelScore(label: $0, dsc: dscs[$0 - 1], nsd: nsds[$0]) }
        return CaseScore(labels: labels, dsc: caseDSC, nsd: labels.map(\.nsd).reduce(0, +) / Double(maxLabel))
    }
}
