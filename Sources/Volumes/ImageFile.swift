// Opening an image for viewing and segmenting: challenge npz (imgs, gts, boxes, spacing),
// NIfTI, PNG or npy, as one `OpenedImage` whatever the format.
import Foundation

/// An image file's contents as the workbench needs them.
public struct OpenedImage: Sendable {
    public var volume: Volume
    public var format: FileFormat
    /// Ground truth stored in the same file (`gts` of a challenge npz).
    public var groundTruth: LabelMap?
    /// Box prompts stored in the file (`boxes` of a challenge npz).
    public var boxes: [Box3DOr2D]
    /// The NIfTI header's geometry, so a mask written for this image keeps its affine.
    public var niftiGeometry: NiftiGeometry?
    /// True when the intensities look like CT (Hounsfield units).
    public var looksLikeCT: Bool
    /// True when the stored values are already 0-255 display values (challenge npz, PNG).
    public var isUInt8: Bool
    /// Set when a 3D image gave no usable voxel size for some axis and 1 mm was taken there.
    public var spacingNote: String? = nil

    public init(volume: Volume, format: FileFormat, groundTruth: LabelMap?, boxes: [Box3DOr2D], niftiGeometry: NiftiGeometry?,
                looksLikeCT: Bool, isUInt8: Bool) {
        (self.volume, self.format, self.groundTruth, self.boxes) = (volume, format, groundTruth, boxes)
        (self.niftiGeometry, self.looksLikeCT, self.isUInt8) = (niftiGeometry, looksLikeCT, isUInt8)
    }
}

public enum ImageFile {
    /// Whether a challenge npz's `imgs` of this shape is a stack of slices (D, H, W): rank 3,
    /// except (H, W, 3) in a file whose name does not start with "3D" (docs/DECISIONS.md).
    public static func isStack(_ shape: [Int], fileName: String) -> Bool {
        shape.count == 3 && !(shape[2] == 3 && !fileName.hasPrefix("3D"))
    }

    /// Reads an image. 3D: [D, H, W] (a NIfTI's k, j, i axes); 2D: [H, W] or [H, W, 3].
    public static func open(path: String) throws -> OpenedImage {
        do {
            switch try FileFormat.detect(path: path) {
            case .npz:
                let arrays = try Npz.read(path: path, only: ["imgs", "gts", "boxes", "spacing"])
                guard let imgs = arrays.first(where: { $0.name == "imgs" })?.array else {
                    throw VolumeError("no `imgs` array (it has: \(try Npz.names(path: path).joined(separator: ", ")))")
                }
                let is3D = isStack(imgs.shape, fileName: (path as NSString).lastPathComponent)
                guard imgs.shape.count == 2 || imgs.shape.count == 3 else {
                    throw VolumeError("`imgs` has shape \(imgs.shape); expected (H,W), (H,W,3) or (D,H,W)")
                }
                var spacing = [Double](repeating: 1, count: is3D ? 3 : 2)
                var spacingNote: String?
                if is3D {
                    // As `eval` reads it (LabelFile), but a spacing that cannot be used is only
                    // noted: the image still opens, its voxels taken as 1 mm.
                    if let v = arrays.first(where: { $0.name == "spacing" })?.array.doubles() {
                        if VoxelSpacing.isUsable(v) { spacing = v } else { spacingNote = VoxelSpacing.unusable(v) + "; voxels taken as 1 mm" }
                    } else {
                        spacingNote = "no `spacing` array; voxels taken as 1 mm"
                    }
                }
                let volume = Volume(shape: imgs.shape, voxels: imgs.floats(), spacing: spacing, is3D: is3D)
                var gt: LabelMap?
                if let g = arrays.first(where: { $0.name == "gts" })?.array {
                    guard g.shape == volume.spatialShape else {
                        throw VolumeError("`gts` has shape \(g.shape) but the image is \(volume.spatialShape)")
                    }
                    gt = LabelMap(shape: g.shape, labels: try LabelMap.labels(from: g), spacing: spacing)
                    gt?.spacingNote = spacingNote
                }
                let boxes = try arrays.first(where: { $0.name == "boxes" }).map { try Boxes.parse($0.array) } ?? []
                // A 0-1 float image is windowed like any other, not taken as bytes (it was all black).
                var opened = OpenedImage(volume: volume, format: .npz, groundTruth: gt, boxes: boxes, niftiGeometry: nil,
                                         looksLikeCT: false, isUInt8: imgs.dtype == .uint8 || Windowing.holdsWholeBytes(volume.voxels))
                opened.spacingNote = spacingNote
                return opened
            case .nifti:
                let n = try Nifti.read(path: path)
                let shape = LabelFile.squeezeTo3(n.data.shape)
                guard shape.count == 2 || shape.count == 3 else {
                    throw VolumeError("NIfTI data has shape \(n.data.shape); medseg opens 2D and 3D images")
                }
                let values = n.scaledValues()
                let volume = Volume(shape: shape, voxels: values, spacing: Array(n.spacing.suffix(shape.count)),
                                    affine: n.affine, is3D: shape.count == 3)
                let lo = values.min() ?? 0
                var opened = OpenedImage(volume: volume, format: .nifti, groundTruth: nil, boxes: [], niftiGeometry: n.geometry,
                                         looksLikeCT: lo < -500, isUInt8: false)
                if shape.count == 3 && !n.spacingStored { opened.spacingNote = VoxelSpacing.niftiNote(n.storedPixdim) }
                return opened
            case .png:
                let a = try PNGFile.read(path: path)
                var values = a.floats(), shape = a.shape
                if shape.count == 3 && shape[2] == 2 || shape.count == 3 && shape[2] == 4 {  // drop alpha
                    let c = shape[2], keep = c == 2 ? 1 : 3
                    values = (0..<(shape[0] * shape[1] * keep)).map { i in values[(i / keep) * c + i % keep] }
                    shape = keep == 1 ? [shape[0], shape[1]] : [shape[0], shape[1], 3]
                }
                return OpenedImage(volume: Volume(shape: shape, voxels: values, spacing: [1, 1], is3D: false), format: .png,
                                   groundTruth: nil, boxes: [], niftiGeometry: nil, looksLikeCT: false, isUInt8: a.dtype == .uint8)
            case .npy:
                let a = try Npy.read(path: path)
                guard a.shape.count == 2 || a.shape.count == 3 else {
                    throw VolumeError("array has shape \(a.shape); expected (H,W), (H,W,3) or (D,H,W)")
                }
                let is3D = a.shape.count == 3 && a.shape[2] != 3, voxels = a.floats()
                var opened = OpenedImage(volume: Volume(shape: a.shape, voxels: voxels, spacing: [Double](repeating: 1, count: is3D ? 3 : 2),
                                                        is3D: is3D), format: .npy, groundTruth: nil, boxes: [], niftiGeometry: nil,
                                         looksLikeCT: (a.range()?.min ?? 0) < -500, isUInt8: a.dtype == .uint8 || Windowing.holdsWholeBytes(voxels))
                // An npy file holds one array and no voxel size.
                if is3D { opened.spacingNote = "an npy file holds no spacing; voxels taken as 1 mm" }
                return opened
            }
        } catch let e as VolumeError {
            throw e.at(path)
        }
    }
}
