// Surface distances by the surfel method of DeepMind's surface-distance package
// (compute_surface_distances / compute_surface_dice_at_tolerance), which the challenge uses:
// marching-cubes surface elements on the corner grid of the voxels, their areas from the voxel
// spacing, and the exact Euclidean distance from each surfel to the other mask's surface.
#if canImport(Glibc)
import Glibc
#endif

/// Surfel areas and the distance of each surfel to the other surface, for one pair of masks.
public struct SurfaceDistances {
    public var distancesGtToPred: [Double]
    public var distancesPredToGt: [Double]
    public var areasGt: [Double]
    public var areasPred: [Double]

    /// Normalised surface Dice at `tolerance`: the area of surfels within tolerance of the other
    /// surface over all surfel area. NaN when both masks are empty.
    public func surfaceDice(tolerance: Double) -> Double {
        var overlap = 0.0, total = 0.0
        for (d, a) in zip(distancesGtToPred, areasGt) { total += a; if d <= tolerance { overlap += a } }
        for (d, a) in zip(distancesPredToGt, areasPred) { total += a; if d <= tolerance { overlap += a } }
        return overlap / total
    }
}

public enum SurfaceDistance {
    /// Surfel area of each of the 256 neighbour codes for a voxel spacing
    /// (create_table_neighbour_code_to_surface_area).
    public static func areaTable(spacing s: [Double]) -> [Double] {
        var table = [Double](repeating: 0, count: 256)
        var base = 0
        for code in 0..<256 {
            var sum = 0.0
            for _ in 0..<surfelNormalCounts[code] {
                let n0 = surfelNormalValues[base] * s[1] * s[2]
                let n1 = surfelNormalValues[base + 1] * s[0] * s[2]
                let n2 = surfelNormalValues[base + 2] * s[0] * s[1]
                sum += (n0 * n0 + n1 * n1 + n2 * n2).squareRoot()
                base += 3
            }
            table[code] = sum
        }
        return table
    }

    /// Surface distances of two binary masks given as predicates over a 3D grid `shape`, within
    /// the bounding box [lo, hi] (inclusive) of their union. `gt(i)`/`pred(i)` take a flat index.
    public static func compute(shape: [Int], lo: [Int], hi: [Int], spacing: [Double],
                               gt: (Int) -> Bool, pred: (Int) -> Bool) -> SurfaceDistances {
        // The cropped region padded by one voxel at the high end; the low side reads as zero.
        let n = (0..<3).map { hi[$0] - lo[$0] + 2 }
        let count = n[0] * n[1] * n[2]
        var mg = [UInt8](repeating: 0, count: count), mp = mg
        for i in 0..<(n[0] - 1) { for j in 0..<(n[1] - 1) {
            let src = ((lo[0] + i) * shape[1] + lo[1] + j) * shape[2] + lo[2]
            let dst = (i * n[1] + j) * n[2]
            for k in 0..<(n[2] - 1) {
                if gt(src + k) { mg[dst + k] = 1 }
                if pred(src + k) { mp[dst + k] = 1 }
            }
        } }
        let codesGt = neighbourCodes(mg, n), codesPred = neighbourCodes(mp, n)
        let bordersGt = codesGt.map { $0 != 0 && $0 != 255 }, bordersPred = codesPred.map { $0 != 0 && $0 != 255 }
        let distGt = DistanceTransform.squared(sites: bordersGt, shape: n, spacing: spacing)
        let distPred = DistanceTransform.squared(sites: bordersPred, shape: n, spacing: spacing)
        let area = areaTable(spacing: spacing)
        var r = SurfaceDistances(distancesGtToPred: [], distancesPredToGt: [], areasGt: [], areasPred: [])
        for i in 0..<count {
            if bordersGt[i] { r.distancesGtToPred.append(distPred[i].squareRoot()); r.areasGt.append(area[Int(codesGt[i])]) }
            if bordersPred[i] { r.distancesPredToGt.append(distGt[i].squareRoot()); r.areasPred.append(area[Int(codesPred[i])]) }
        }
        return r
    }

    /// scipy.ndimage.correlate of the mask with the 2x2x2 kernel [[[128,64],[32,16]],[[8,4],[2,1]]]
    /// (mode constant 0): the code at (i,j,k) encodes voxels (i-1..i, j-1..j, k-1..k).
    static func neighbourCodes(_ m: [UInt8], _ n: [Int]) -> [UInt8] {
        var codes = [UInt8](repeating: 0, count: m.count)
        let s0 = n[1] * n[2], s1 = n[2]
        for i in 0..<n[0] { for j in 0..<n[1] { for k in 0..<n[2] {
            var c: UInt8 = 0
            for a in 0..<2 {
                let x = i + a - 1
                if x < 0 { continue }
                for b in 0..<2 {
                    let y = j + b - 1
                    if y < 0 { continue }
                    for d in 0..<2 {
                        let z = k + d - 1
                        if z < 0 { continue }
                        if m[x * s0 + y * s1 + z] != 0 { c |= UInt8(1) << UInt8(7 - (4 * a + 2 * b + d)) }
                    }
                }
            }
            codes[i * s0 + j * s1 + k] = c
        } } }
        return codes
    }
}
