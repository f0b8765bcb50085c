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

/// Voxel sizes medseg takes from a file's `spacing` (mm): finite, from 1e-6 to 1e6.
public enum VoxelSpacing {
    public static func isUsable(_ v: [Double], axes: Int = 3) -> Bool {
        v.count == axes && v.allSatisfy { $0.isFinite && $0 >= 1e-6 && $0 <= 1e6 }
    }

    /// What an npz `spacing` array that cannot be used is, for messages.
    public static func unusable(_ v: [Double]) -> String { "`spacing` is \(v); expected three voxel sizes from 1e-6 to 1e6 mm" }

    /// The note for a NIfTI whose pixdim is 0 or NaN on some axis (libnifti takes 1 mm there).
    public static func niftiNote(_ pixdim: [Double]) -> String {
        "voxel size (pixdim) \(pixdim) is 0 or not a number on some axis; 1 mm taken there"
    }
}

/// An integer label map (0 = background) on the spatial grid of a `Volume`.
public struct LabelMap: Sendable, Equatable {
    /// Spatial shape: [D, H, W] or [H, W].
    public var shape: [Int]
    public var labels: [UInt16]
    public var spacing: [Double]
    /// Where the voxels lie in the world (a NIfTI's affine, when its qform or sform code says
    /// it is known); nil for formats without one.
    public var affine: [[Double]]?
    /// Set when the file gave no usable voxel size for some axis and 1 mm was assumed there.
    public var spacingNote: String? = nil

    public init(shape: [Int], labels: [UInt16], spacing: [Double], affine: [[Double]]? = nil) {
        self.shape = shape
        self.labels = labels
        self.spacing = spacing
        self.affine = affine
    }

    /// Why two voxel grids of the same shape do not hold the same points (nil when they do, or
    /// when either has no known affine): an axis pointing another way or a different voxel size
    /// (more than 1%), or an origin more than half a voxel apart. Voxel-by-voxel comparison of
    /// label maps on such grids compares different places.
    public static func gridMismatch(_ a: [[Double]]?, _ b: [[Double]]?) -> String? {
        guard let a, let b, a.count >= 3, b.count >= 3, (a + b).allSatisfy({ $0.count >= 4 }) else { return nil }
        let names = ["x", "y", "z"]
        func column(_ m: [[Double]], _ c: Int) -> [Double] { [m[0][c], m[1][c], m[2][c]] }
        func dot(_ p: [Double], _ q: [Double]) -> Double { p[0] * q[0] + p[1] * q[1] + p[2] * q[2] }
        for c in 0..<3 {
            let u = column(a, c), v = column(b, c)
            let nu = dot(u, u).squareRoot(), nv = dot(v, v).squareRoot()
            guard nu > 0, nv > 0 else { continue }
            let cos = dot(u, v) / (nu * nv)
            if cos < 0.9998 { return "their \(names[c]) axes point different ways (the files are stored in different orientations)" }
            if abs(nu - nv) > 0.01 * max(nu, nv) { return "their voxels differ in size along \(names[c])" }
        }
        let d = [a[0][3] - b[0][3], a[1][3] - b[1][3], a[2][3] - b[2][3]]
        let shift = dot(d, d).squareRoot()
        let voxel = (0..<3).map { dot(column(a, $0), column(a, $0)).squareRoot() }.filter { $0 > 0 }.min() ?? 1
        if shift > 0.5 * voxel { return "their origins are \(String(format: "%.1f", shift)) mm apart" }
        return nil
    }

    public var is3D: Bool { shape.count == 3 }

    /// Voxel count per nonzero label, sorted by label.
    public func labelCounts() -> [(label: Int, count: Int)] {
        var counts = [Int](repeating: 0, count: 65536)
        for v in labels { counts[Int(v)] += 1 }
        return Self.labelCounts(histogram: counts)
    }

    /// The nonzero labels of a histogram over 0...65535 with their counts, sorted by label.
    public static func labelCounts(histogram counts: [Int]) -> [(label: Int, count: Int)] {
        (1..<65536).compactMap { counts[$0] > 0 ? ($0, counts[$0]) : nil }
    }

    /// Whether a value can be a label: a whole number from 0 to 65535.
    public static func isLabel(_ v: Double) -> Bool { v >= 0 && v <= 65535 && v == v.rounded() }

    /// Converts an integer-valued array of any dtype into labels, refusing negatives, fractions and
    /// values above 65535 with an error that names the offending value.
    public static func labels(from array: NDArray) throws -> [UInt16] {
        if let u8 = array.values(as: UInt8.self) { return u8.map(UInt16.init) }
        if let u16 = array.values(as: UInt16.self) { return u16 }
        if array.dtype == .bool { return array.storage.map { $0 != 0 ? 1 : 0 } }
        var out = [UInt16](repeating: 0, count: array.count)
        for (i, v) in array.doubles().enumerated() {
            guard isLabel(v) else { throw VolumeError(LabelValueError(value: v).description) }
            out[i] = UInt16(v)
        }
        return out
    }
}
