// Segmentation objects: a box prompt with a label, and the mask the engine gave for it.
import Foundation

/// A mask stored as its bounding block of the volume (z0...z1, y0...y1, x0...x1), one byte per voxel.
/// Immutable and shared, so undo snapshots of the object list are cheap.
final class ObjectMask: @unchecked Sendable {
    let z0: Int, y0: Int, x0: Int
    let d: Int, h: Int, w: Int
    let bits: [UInt8]
    let voxelCount: Int

    init(z0: Int, y0: Int, x0: Int, d: Int, h: Int, w: Int, bits: [UInt8]) {
        (self.z0, self.y0, self.x0, self.d, self.h, self.w, self.bits) = (z0, y0, x0, d, h, w, bits)
        voxelCount = bits.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
    }

    /// The tight block around the nonzero voxels of a full [depth, height, width] mask, restricted
    /// to slices zRange; nil when it is empty.
    static func crop(_ full: (Int) -> Bool, depth: Int, height: Int, width: Int, zRange: ClosedRange<Int>) -> ObjectMask? {
        var lo = (Int.max, Int.max, Int.max), hi = (-1, -1, -1)
        for z in zRange { for y in 0..<height { for x in 0..<width where full((z * height + y) * width + x) {
            lo = (min(lo.0, z), min(lo.1, y), min(lo.2, x)); hi = (max(hi.0, z), max(hi.1, y), max(hi.2, x))
        } } }
        guard hi.0 >= 0 else { return nil }
        let (d, h, w) = (hi.0 - lo.0 + 1, hi.1 - lo.1 + 1, hi.2 - lo.2 + 1)
        var bits = [UInt8](repeating: 0, count: d * h * w)
        for z in 0..<d { for y in 0..<h { for x in 0..<w where full(((z + lo.0) * height + y + lo.1) * width + x + lo.2) {
            bits[(z * h + y) * w + x] = 1
        } } }
        return ObjectMask(z0: lo.0, y0: lo.1, x0: lo.2, d: d, h: h, w: w, bits: bits)
    }

    @inline(__always) func contains(_ v: Voxel) -> Bool {
        let (z, y, x) = (v.z - z0, v.y - y0, v.x - x0)
        guard z >= 0, z < d, y >= 0, y < h, x >= 0, x < w else { return false }
        return bits[(z * h + y) * w + x] != 0
    }

    /// The share of the mask's voxels whose x, y lie outside the box's (nil for an empty mask).
    /// The last answer is kept: the panel asks on every frame.
    func shareOutside(_ box: BoxPlace) -> Double? {
        guard voxelCount > 0 else { return nil }
        // Within the box's x and y entirely: nothing outside, no count needed.
        if x0 >= min(box.x0, box.x1) && x0 + w - 1 <= max(box.x0, box.x1) && y0 >= min(box.y0, box.y1) && y0 + h - 1 <= max(box.y0, box.y1) { return 0 }
        outsideLock.lock(); defer { outsideLock.unlock() }
        if let (place, share) = outsideCache, place == box { return share }
        let share = countOutside(box)
        outsideCache = (box, share)
        return share
    }
    private let outsideLock = NSLock()
    private var outsideCache: (BoxPlace, Double)?

    private func countOutside(_ box: BoxPlace) -> Double {
        let xs = min(box.x0, box.x1)...max(box.x0, box.x1), ys = min(box.y0, box.y1)...max(box.y0, box.y1)
        var outside = 0
        for z in 0..<d { for y in 0..<h { for x in 0..<w where bits[(z * h + y) * w + x] != 0 {
            if !xs.contains(x + x0) || !ys.contains(y + y0) { outside += 1 }
        } } }
        return Double(outside) / Double(voxelCount)
    }

    /// Paints `label` into a full label map [depth, height, width].
    func paint(_ label: UInt16, into labels: inout [UInt16], height: Int, width: Int) {
        for z in 0..<d { for y in 0..<h {
            let src = (z * h + y) * w, dst = ((z + z0) * height + y + y0) * width + x0
            for x in 0..<w where bits[src + x] != 0 { labels[dst + x] = label }
        } }
    }
}

/// A box prompt (voxel coordinates, inclusive corners, slices z0...z1) with its label and mask.
struct SegObject: Equatable, Sendable {
    var id: Int
    var label: Int
    var x0: Int, y0: Int, x1: Int, y1: Int
    var z0: Int, z1: Int
    var mask: ObjectMask?
    /// The box or range changed since the mask was made.
    var stale: Bool
    /// A box from the file (`B`): its corners as the file gives them, clipped as `segment`
    /// clips them, so its masks are `segment`'s (the voxel corners above are them rounded, for
    /// drawing). Boxes are never moved, so it stays true; the recovery file keeps it.
    var exact: [Double]? = nil

    static func == (a: SegObject, b: SegObject) -> Bool {
        a.id == b.id && a.label == b.label && a.place == b.place && a.mask === b.mask && a.stale == b.stale
    }

    /// Where the box is: what its mask depends on (the label does not).
    var place: BoxPlace { BoxPlace(x0: x0, y0: y0, x1: x1, y1: y1, z0: z0, z1: z1) }

    /// The box as the engine and the challenge files take it: [x0, y0, x1, y1], corners inclusive.
    var pixelBox: [Double] { exact ?? [Double(min(x0, x1)), Double(min(y0, y1)), Double(max(x0, x1)), Double(max(y0, y1))] }
}

/// A box's corners and slice range.
struct BoxPlace: Equatable, Sendable {
    let x0, y0, x1, y1, z0, z1: Int
}

/// Composite label map of objects in order (later over earlier).
func composite(_ objects: [SegObject], depth: Int, height: Int, width: Int) -> [UInt16] {
    var labels = [UInt16](repeating: 0, count: depth * height * width)
    for o in objects { o.mask?.paint(UInt16(clamping: o.label), into: &labels, height: height, width: width) }
    return labels
}
