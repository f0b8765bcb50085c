// Which file format a path holds, and reading label maps and images from any supported format.
#if canImport(Glibc)
import Glibc
#endif

/// File formats medseg reads and writes.
public enum FileFormat: String, Sendable {
    case npz, npy, nifti, png

    /// The format of `path`, by extension first, then by the file's first bytes.
    public static func detect(path: String) throws -> FileFormat {
        try requireRegularFile(path)
        let lower = path.lowercased()
        if lower.hasSuffix(".npz") { return .npz }
        if lower.hasSuffix(".npy") { return .npy }
        if lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") { return .nifti }
        if lower.hasSuffix(".png") { return .png }
        let head = try readPrefix(path: path, count: 352)
        if head.starts(with: [0x50, 0x4B]) { return .npz }
        if head.starts(with: [0x93] + Array("NUMPY".utf8)) { return .npy }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        if head.starts(with: [0x1F, 0x8B]) { return .nifti }  // gzip: NIfTI is the gzipped format we read
        if head.count >= 348, head[344..<347].elementsEqual(Array("n+1".utf8)) { return .nifti }
        if head.count >= 8, head[4..<7].elementsEqual(Array("n+2".utf8)) { return .nifti }
        throw VolumeError("not a file medseg reads (npz, npy, NIfTI .nii/.nii.gz, PNG)", path: path)
    }

    /// Throws unless `path` is a regular file (or a link to one): reading a pipe would wait for a
    /// writer forever, and a directory or a device is no image.
    public static func requireRegularFile(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw VolumeError(String(cString: strerror(errno)), path: path) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw VolumeError("is a directory, not a file", path: path)
        case S_IFIFO: throw VolumeError("is a pipe, not a file", path: path)
        default: throw VolumeError("is not a regular file", path: path)
        }
    }

    /// Up to `count` first bytes of a file; a clear error when it cannot be opened.
    static func readPrefix(path: String, count: Int) throws -> [UInt8] {
        guard let f = fopen(path, "rb") else {
            throw VolumeError(String(cString: strerror(errno)), path: path)
        }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: count)
        let n = fread(&buf, 1, count, f)
        return Array(buf[0..<n])
    }
}

/// Reading label maps (ground truth or predictions) from any supported format.
public enum LabelFile {
    /// Reads a label map. For npz, the first of `keys` present is used (`segs` for predictions,
    /// `gts` for ground truth); spacing comes from the npz `spacing` array as stored for 3D
    /// (the challenge's convention), and is 1 for 2D images. Without `spacing` (a prediction,
    /// scored on its ground truth's grid) the npz's `spacing` is not read, nor judged.
    public static func read(path: String, keys: [String], spacing usesSpacing: Bool = true) throws -> LabelMap {
        do {
            switch try FileFormat.detect(path: path) {
            case .npz:
                // Only what is used: other arrays (a `modality` string, ...) are never read.
                let arrays = try Npz.read(path: path, only: Set(keys + (usesSpacing ? ["spacing"] : [])))
                guard let hit = keys.lazy.compactMap({ k in arrays.first { $0.name == k } }).first else {
                    let have = try Npz.names(path: path).joined(separator: ", ")
                    throw VolumeError("no \(keys.map { "`\($0)`" }.joined(separator: " or ")) array (it has: \(have.isEmpty ? "nothing" : have))")
                }
                let shape = hit.array.shape
                guard shape.count == 2 || shape.count == 3 else {
                    throw VolumeError("`\(hit.name)` has shape \(shape); a label map is (H,W) or (D,H,W)")
                }
                var spacing = [Double](repeating: 1, count: shape.count)
                if shape.count == 3, let s = arrays.first(where: { $0.name == "spacing" })?.array {
                    let v = s.doubles()
                    guard VoxelSpacing.isUsable(v) else { throw VolumeError(VoxelSpacing.unusable(v)) }
                    spacing = v
                }
                var map = LabelMap(shape: shape, labels: try LabelMap.labels(from: hit.array), spacing: spacing)
                if shape.count == 3 && usesSpacing && !arrays.contains(where: { $0.name == "spacing" }) {
                    map.spacingNote = "no `spacing` array; voxels taken as 1 mm"
                }
                return map
            case .npy:
                let a = try Npy.read(path: path)
                guard a.shape.count == 2 || a.shape.count == 3 else {
                    throw VolumeError("array has shape \(a.shape); a label map is (H,W) or (D,H,W)")
                }
                return LabelMap(shape: a.shape, labels: try LabelMap.labels(from: a), spacing: [Double](repeating: 1, count: a.shape.count))
            case .nifti:
                let n = try Nifti.read(path: path)
                let shape = squeezeTo3(n.data.shape)
                guard shape.count == 2 || shape.count == 3 else {
                    throw VolumeError("NIfTI data has shape \(n.data.shape); a label map is 2D or 3D")
                }
                let slope = n.sclSlope
                let scaled = slope.isFinite && slope != 0 && !(slope == 1 && n.sclInter == 0)
                let values = try LabelMap.labels(from: scaled
                    ? NDArray(shape: n.data.shape, values: n.scaledValues()) : n.data)
                var map = LabelMap(shape: shape, labels: values, spacing: Array(n.spacing.suffix(shape.count)),
                                   affine: n.geometry.orientationKnown ? n.affine : nil)
                if !n.spacingStored {
                    map.spacingNote = VoxelSpacing.niftiNote(n.storedPixdim)
                }
                return map
            case .png:
                let a = try PNGFile.read(path: path, paletteIndices: true)
                guard a.shape.count == 2 else {
                    throw VolumeError("a PNG label map must be grayscale or a palette image, this one has shape \(a.shape)")
                }
                return LabelMap(shape: a.shape, labels: try LabelMap.labels(from: a), spacing: [1, 1])
            }
        } catch let e as VolumeError {
            throw e.at(path)
        }
    }

    /// Drops leading singleton axes beyond three (a 4D NIfTI with one volume is 3D).
    static func squeezeTo3(_ shape: [Int]) -> [Int] {
        var s = shape
        while s.count > 3, s.first == 1 { s.removeFirst() }
        return s
    }
}
