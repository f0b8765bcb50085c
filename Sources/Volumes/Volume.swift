// Images, label maps and their geometry, shared by the engine's callers, the renderer and the CLI.

/// An image: a 2D slice (gray or color) or a 3D volume, as float intensities.
/// Arrays are C order. 3D: shape [D, H, W] (slices, rows, columns). 2D: [H, W] or [H, W, C].
public struct Volume: Sendable {
    public var shape: [Int]
    /// Intensities as stored in the file after NIfTI scaling (HU for CT, raw for MR, 0-255 for PNG/npz).
    public var voxels: [Float]
    /// Voxel size along each spatial axis, in array order: [dz, dy, dx] or [dy, dx].
    public var spacing: [Double]
    /// Voxel index (i = fastest axis, j, k) to world mm, when the file had one (NIfTI).
    public var affine: [[Double]]?
    /// True for a stack of slices; false for one 2D image (possibly with channels).
    public var is3D: Bool

    public init(shape: [Int], voxels: [Float], spacing: [Double], affine: [[Double]]? = nil, is3D: Bool) {
        self.shape = shape
        self.voxels = voxels
        self.spacing = spacing
        self.affine = affine
        self.is3D = is3D
    }

    /// Number of slices (1 for a 2D image).
    public var depth: Int { is3D ? shape[0] : 1 }
    public var height: Int { is3D ? shape[1] : shape[0] }
    public var width: Int { is3D ? shape[2] : shape[1] }
    /// Colour channels per pixel (1 for gray and for every 3D volume).
    public var channels: Int { (!is3D && shape.count == 3) ? shape[2] : 1 }
    /// The spatial shape: [D, H, W] or [H, W].
    public var spatialShape: [Int] { is3D ? [depth, height, width] : [height, width] }
}

/// An integer label map (0 = background) on the spatial grid of a `Volume`.
public struct LabelMap: Sendable, Equatable {
    /// Spatial shape: [D, H, W] or [H, W].
    public var shape: [Int]
    public var labels: [UInt16]
    public var spacing: [Double]

    public init(shape: [Int], labels: [UInt16], spacing: [Double]) {
        self.shape = shape
        self.labels = labels
        self.spacing = spacing
    }

    public var is3D: Bool { shape.count == 3 }

    /// Voxel count per nonzero label, sorted by label.
    public func labelCounts() -> [(label: Int, count: Int)] {
        var counts = [Int](repeating: 0, count: 65536)
        for v in labels { counts[Int(v)] += 1 }
        return (1..<65536).compactMap { counts[$0] > 0 ? ($0, counts[$0]) : nil }
    }

    /// Converts an integer-valued array of any dtype into labels, refusing negatives, fractions and
    /// values above 65535 with an error that names the offending value.
    public static func labels(from array: NDArray) throws -> [UInt16] {
        if let u8 = array.values(as: UInt8.self) { return u8.map(UInt16.init) }
        if let u16 = array.values(as: UInt16.self) { return u16 }
        if array.dtype == .bool { return array.storage.map { $0 != 0 ? 1 : 0 } }
        var out = [UInt16](repeating: 0, count: array.count)
        for (i, v) in array.doubles().enumerated() {
            guard v >= 0, v <= 65535, v == v.rounded() else {
                throw VolumeError("a label map holds \(v), but labels must be whole numbers from 0 to 65535")
            }
            out[i] = UInt16(v)
        }
        return out
    }
}
