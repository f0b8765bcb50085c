// Box prompts in voxel coordinates of the image (challenge npz convention, inclusive-exclusive as given).

/// A 2D box [x0, y0, x1, y1] in pixel coordinates of a slice.
public struct Box2D: Sendable, Equatable {
    public var x0, y0, x1, y1: Double
    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }

    /// The corners ordered and clipped to a `width` x `height` image, [x0, y0, x1, y1] (each
    /// within 0...width or 0...height), as `segment` prompts with them and `B` in the workbench
    /// too; nil when the box misses the image. A box of zero width or height on the image's top
    /// or left edge (a one-pixel-wide object at x = 0) is kept, as the official script runs it.
    public func clipped(height h: Int, width w: Int) -> [Double]? {
        let (a, b, c, d) = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        guard a < Double(w), b < Double(h), c >= 0, d >= 0 else { return nil }
        return [max(0, a), max(0, b), min(Double(w), c), min(Double(h), d)]
    }
}

/// A 3D box [x_min, y_min, z_min, x_max, y_max, z_max] in voxel coordinates ([D,H,W] = [z,y,x]).
public struct Box3D: Sendable, Equatable {
    public var xy: Box2D
    public var z0, z1: Int
    public init(xy: Box2D, z0: Int, z1: Int) {
        self.xy = xy; self.z0 = z0; self.z1 = z1
    }
}

public enum Boxes {
    /// Reads a challenge `boxes` array: (N,4) for 2D cases, (N,6) for 3D cases.
    /// Returns 2D boxes with z ranges (nil for 2D).
    public static func parse(_ array: NDArray) throws -> [Box3DOr2D] {
        let v = array.doubles()
        if array.count == 0 { return [] }
        let n: Int, k: Int
        switch array.shape.count {
        case 1 where array.shape[0] == 4 || array.shape[0] == 6: n = 1; k = array.shape[0]
        case 2 where array.shape[1] == 4 || array.shape[1] == 6: n = array.shape[0]; k = array.shape[1]
        default:
            throw VolumeError("`boxes` has shape \(array.shape); expected (N,4) [x0,y0,x1,y1] or (N,6) [x_min,y_min,z_min,x_max,y_max,z_max]")
        }
        if let bad = v.first(where: { !$0.isFinite || abs($0) > 1e9 }) {
            throw VolumeError("`boxes` holds \(valueText(bad)), which is not a usable coordinate")
        }
        return (0..<n).map { i in
            let r = Array(v[(i * k)..<(i * k + k)])
            if k == 4 { return .flat(Box2D(x0: r[0], y0: r[1], x1: r[2], y1: r[3])) }
            return .stack(Box3D(xy: Box2D(x0: r[0], y0: r[1], x1: r[3], y1: r[4]), z0: Int(r[2]), z1: Int(r[5])))
        }
    }
}

/// A box from a file: either a 2D box or a 3D one.
public enum Box3DOr2D: Sendable, Equatable {
    case flat(Box2D)
    case stack(Box3D)
}
