// NIfTI-1 and NIfTI-2 (.nii, .nii.gz) through the reference C library (libnifti2 + znzlib).
// The header is read and checked before any data is allocated; data comes back in C order
// (NIfTI stores x fastest, so a volume (nx, ny, nz) is [nz, ny, nx] here) in native byte order.
import CNifti
#if canImport(Glibc)
import Glibc
#endif

/// The geometry of a NIfTI image, kept so that a label map written for it lands on the same grid.
public struct NiftiGeometry: Sendable, Equatable {
    public var pixdim: [Double]          // pixdim[1...7]
    public var qformCode: Int32, sformCode: Int32
    public var quatern: [Double]         // quatern_b, c, d, qoffset_x, y, z, qfac
    public var sform: [[Double]]         // sto_xyz, 4x4
    public var xyzUnits: Int32, timeUnits: Int32
    public var niftiVersion: Int

    public init(pixdim: [Double], qformCode: Int32, sformCode: Int32, quatern: [Double], sform: [[Double]],
                xyzUnits: Int32, timeUnits: Int32, niftiVersion: Int) {
        (self.pixdim, self.qformCode, self.sformCode, self.quatern, self.sform) = (pixdim, qformCode, sformCode, quatern, sform)
        (self.xyzUnits, self.timeUnits, self.niftiVersion) = (xyzUnits, timeUnits, niftiVersion)
    }

    /// Whether the header says which way the patient lies: a qform or sform code (the NIfTI
    /// rules; without either, the affine is only the voxel size).
    public var orientationKnown: Bool { qformCode > 0 || sformCode > 0 }
}

/// A NIfTI image as stored: raw values, scaling, geometry.
public struct NiftiImage: Sendable {
    /// Raw stored values, C order, shape reversed from the NIfTI dims: [nz, ny, nx] for 3D.
    public var data: NDArray
    /// Stored scaling; a slope of 0 (or a non-finite one, which libnifti turns into 0) means none.
    public var sclSlope: Double
    public var sclInter: Double
    /// Voxel size per array axis (same order as `data.shape`), e.g. [dz, dy, dx]; 1 where the
    /// header's pixdim is 0 or not a number (libnifti's rule).
    public var spacing: [Double]
    /// The header's pixdim[1...ndim] as stored (x first), before libnifti replaces a 0 or NaN by 1.
    public var storedPixdim: [Double] = []
    /// Whether `spacing` is the stored voxel size on every axis.
    public var spacingStored: Bool { storedPixdim.allSatisfy { $0.isFinite && $0 != 0 } }
    /// Voxel (i, j, k) -> world mm: sform when sform_code > 0, else qform when qform_code > 0,
    /// else the voxel size on the diagonal (nibabel's order of preference for the first two).
    public var affine: [[Double]]
    public var geometry: NiftiGeometry
    public var qformCode: Int32 { geometry.qformCode }
    public var sformCode: Int32 { geometry.sformCode }
    public var niftiVersion: Int { geometry.niftiVersion }

    public var hasScaling: Bool { sclSlope.isFinite && sclSlope != 0 && !(sclSlope == 1 && sclInter == 0) }

    /// Values after scl_slope/scl_inter (the raw values when there is no scaling).
    public func scaledValues() -> [Float] {
        let raw = data.floats()
        guard hasScaling else { return raw }
        let s = Float(sclSlope), b = Float(sclInter)
        return raw.map { $0 * s + b }
    }
}

public enum Nifti {
    /// Largest data medseg will load (refused before allocating).
    public static let maxBytes: Int64 = 1 << 36

    static let dtypes: [Int32: DType] = [
        2: .uint8, 4: .int16, 8: .int32, 16: .float32, 64: .float64,
        256: .int8, 512: .uint16, 768: .uint32, 1024: .int64, 1280: .uint64,
    ]

    static func quiet() { nifti_set_debug_level(0) }

    /// Runs `body` with standard error pointed at /dev/null: libnifti prints some header errors
    /// ("** ERROR: nifti_convert_n1hdr2nim: bad dim[0]") whatever its debug level, and the
    /// error medseg reports says it in one line.
    static func silencingStderr<T>(_ body: () throws -> T) rethrows -> T {
        fflush(stderr)
        let saved = dup(2), null = open("/dev/null", O_WRONLY)
        if saved >= 0, null >= 0 { dup2(null, 2) }
        defer {
            fflush(stderr)
            if saved >= 0 { dup2(saved, 2); close(saved) }
            if null >= 0 { close(null) }
        }
        return try body()
    }

    /// libnifti takes `.nii` and `.nii.gz` in lower or upper case only: a file named `a.Nii.Gz`
    /// is read through a symbolic link of a name it takes.
    static func withNameLibniftiTakes<T>(_ path: String, _ body: (String) throws -> T) throws -> T {
        let base = path.split(separator: "/").last.map(String.init) ?? path, lower = base.lowercased()
        guard let ext = [".nii.gz", ".nii"].first(where: { lower.hasSuffix($0) }),
              !base.hasSuffix(ext), !base.hasSuffix(ext.uppercased()) else { return try body(path) }
        var cwd = [CChar](repeating: 0, count: 4096)
        let target = path.hasPrefix("/") || getcwd(&cwd, cwd.count) == nil ? path : String(cString: cwd) + "/" + path
        let tmpDir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        let link = tmpDir + "/medseg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))\(ext)"
        guard symlink(target, link) == 0 else { return try body(path) }
        defer { unlink(link) }
        return try AtomicFile.whilePending(link) { try body(link) }
    }

    public static func read(path: String) throws -> NiftiImage {
        try withNameLibniftiTakes(path) { try read(path: path, as: $0) }
    }

    /// Reads the file `path` through the name `lib` (the same file) for libnifti.
    private static func read(path: String, as lib: String) throws -> NiftiImage {
        quiet()
        guard let f = fopen(path, "rb") else { throw VolumeError(String(cString: strerror(errno)), path: path) }
        fseeko(f, 0, SEEK_END)
        let fileSize = Int64(ftello(f))
        fclose(f)
        guard let nim = silencingStderr({ nifti_image_read(lib, 0) }) else {
            throw VolumeError("not a NIfTI file, or its header is damaged", path: path)
        }
        defer { nifti_image_free(nim) }
        let n = nim.pointee
        let ndim = Int(n.ndim)
        guard (1...7).contains(ndim) else { throw VolumeError("NIfTI header has \(n.ndim) dimensions", path: path) }
        // libnifti turns dimensions of 0 or less into 1: the header's own are checked.
        let raw = rawHeader(lib)
        // A header naming a separate .img for its data (magic ni1/ni2) inside a single file.
        guard raw.singleFile else {
            throw VolumeError("the header says its data is in a separate .img file (a .hdr/.img pair); medseg reads single-file NIfTI", path: path)
        }
        let dims = raw.dim ?? withUnsafeBytes(of: n.dim) { Array($0.bindMemory(to: Int64.self)) }
        let shape = Array(dims[1...ndim])
        guard shape.allSatisfy({ $0 >= 1 && $0 <= 1 << 31 }) else {
            throw VolumeError("NIfTI dimensions \(shape) are impossible", path: path)
        }
        guard let dtype = dtypes[n.datatype] else {
            let name = String(cString: nifti_datatype_string(n.datatype))
            throw VolumeError("NIfTI datatype \(name) (\(n.datatype)) is not supported", path: path)
        }
        var bytes: Int64 = Int64(dtype.size)
        for d in shape {
            let (m, o) = bytes.multipliedReportingOverflow(by: d)
            guard !o, m <= maxBytes else { throw VolumeError("NIfTI dimensions \(shape) are absurdly large", path: path) }
            bytes = m
        }
        // libnifti replaces an offset it cannot hold (3e9 in a NIfTI-1 float) by the header's end.
        if let v = raw.voxOffset, !v.isFinite { throw VolumeError("damaged header: its vox_offset is \(v)", path: path) }
        let offset = max(n.iname_offset, raw.voxOffset.map { $0 < 9e18 ? Int64($0) : Int64.max } ?? 0)
        let gzipped = nifti_is_gzfile(lib) != 0
        // deflate packs at most 1032 bytes into one: a claim beyond that is refused before allocating.
        let room = gzipped ? fileSize.multipliedReportingOverflow(by: 1032).partialValue + (1 << 20) : fileSize
        guard offset <= (gzipped ? room : fileSize) else {
            throw VolumeError("damaged header: its data offset \(offset) lies beyond the file's end", path: path)
        }
        guard offset >= 0, bytes <= room - offset else {
            throw VolumeError("truncated: the header promises \(bytes) bytes of data after offset \(offset), "
                + (gzipped ? "more than the \(fileSize) compressed bytes can hold" : "the file has \(fileSize) bytes"), path: path)
        }
        let storage = try data(lib, offset: offset, bytes: Int(bytes), swap: n.byteorder != nifti_short_order() ? dtype.size : 1, path: path)
        let array = try NDArray(dtype: dtype, shape: shape.reversed().map(Int.init), storage: storage)
        let pix = withUnsafeBytes(of: n.pixdim) { Array($0.bindMemory(to: Double.self)) }
        let spacing = (1...ndim).reversed().map { i -> Double in
            let v = abs(pix[i])
            return v.isFinite && v > 0 ? v : 1
        }
        let geometry = NiftiGeometry(
            pixdim: Array(pix[1...7]), qformCode: n.qform_code, sformCode: n.sform_code,
            quatern: [n.quatern_b, n.quatern_c, n.quatern_d, n.qoffset_x, n.qoffset_y, n.qoffset_z, n.qfac],
            sform: matrix(n.sto_xyz), xyzUnits: n.xyz_units, timeUnits: n.time_units,
            niftiVersion: raw.version)
        var affine: [[Double]]
        if n.sform_code > 0 { affine = matrix(n.sto_xyz) } else if n.qform_code > 0 { affine = matrix(n.qto_xyz) } else {
            affine = (0..<4).map { r in (0..<4).map { c in r == c ? (r < 3 ? (r < ndim ? abs(pix[r + 1]) : 1) : 1) : 0 } }
        }
        var image = NiftiImage(data: array, sclSlope: n.scl_slope, sclInter: n.scl_inter, spacing: spacing,
                               affine: affine, geometry: geometry)
        image.storedPixdim = Array((raw.pixdim ?? pix).dropFirst().prefix(ndim))
        return image
    }

    /// What only the raw header tells, in one read of it: the version, 1 or 2 from the header's
    /// size (libnifti's nifti_type does not tell NIfTI-2 single files apart; 0 is ANALYZE 7.5),
    /// pixdim[0...7], dim[0...7] and vox_offset as stored (in the CPU's byte order), nil if the header
    /// cannot be read, and whether the magic says the data follows in the same file ("n+1").
    static func rawHeader(_ path: String) -> (version: Int, pixdim: [Double]?, dim: [Int64]?, voxOffset: Double?, singleFile: Bool) {
        var nver: Int32 = 1
        guard let h = silencingStderr({ nifti_read_header(path, &nver, 0) }) else { return (Int(nver), nil, nil, nil, true) }
        defer { free(h) }
        // nifti_read_header leaves a header of the other byte order as stored.
        let size = h.load(as: Int32.self)
        if size != 348 && size != 540 { swap_nifti_header(h, nver) }
        if nver == 2 {
            let hdr = h.assumingMemoryBound(to: nifti_2_header.self).pointee
            return (Int(nver), withUnsafeBytes(of: hdr.pixdim) { Array($0.bindMemory(to: Double.self)) },
                    withUnsafeBytes(of: hdr.dim) { Array($0.bindMemory(to: Int64.self)) }, Double(hdr.vox_offset),
                    withUnsafeBytes(of: hdr.magic) { $0[1] } == UInt8(ascii: "+"))
        }
        let hdr = h.assumingMemoryBound(to: nifti_1_header.self).pointee
        // ANALYZE 7.5 headers (no magic) are read as libnifti reads them.
        let magic = withUnsafeBytes(of: hdr.magic) { Array($0) }
        return (Int(nver), withUnsafeBytes(of: hdr.pixdim) { $0.bindMemory(to: Float.self).map(Double.init) },
                withUnsafeBytes(of: hdr.dim) { $0.bindMemory(to: Int16.self).map(Int64.init) },
                Double(hdr.vox_offset),
                !(magic[0] == UInt8(ascii: "n") && magic[1] == UInt8(ascii: "i")))
    }

    /// The image data: `bytes` bytes from `offset` in the file (plain or gzip, read front to back
    /// by zlib), byte-swapped in units of `swap` bytes when that is above 1. Values are kept as
    /// stored: libnifti's loader would turn NaN and infinities into 0.
    static func data(_ path: String, offset: Int64, bytes: Int, swap: Int, path shown: String) throws -> [UInt8] {
        guard let gz = gzopen(path, "rb") else { throw VolumeError("cannot open: \(String(cString: strerror(errno)))", path: shown) }
        gzbuffer(gz, 1 << 20)   // zlib reads the file 8 KB at a time otherwise
        defer { gzclose(gz) }
        var skipped: Int64 = 0
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        while skipped < offset {
            let n = gzread(gz, &scratch, UInt32(min(Int64(scratch.count), offset - skipped)))
            guard n > 0 else { throw VolumeError("truncated or damaged image data", path: shown) }
            skipped += Int64(n)
        }
        var storage = [UInt8](repeating: 0, count: bytes)
        var got = 0
        try storage.withUnsafeMutableBytes { out in
            while got < bytes {
                let n = gzread(gz, out.baseAddress! + got, UInt32(min(bytes - got, 1 << 30)))
                guard n > 0 else { throw VolumeError("truncated or damaged image data", path: shown) }
                got += Int(n)
            }
            if swap > 1 { nifti_swap_Nbytes(Int64(bytes / swap), Int32(swap), out.baseAddress) }
        }
        return storage
    }

    /// Inflates the open gzip stream `gz` in pieces of 1 MB, handing each to `take` (false
    /// stops), and closes it: true when the whole stream inflated without error and every
    /// piece was taken.
    static func inflate(_ gz: gzFile, _ take: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = gzread(gz, &buf, UInt32(buf.count))
            if n <= 0 {
                var errnum: Int32 = 0
                _ = gzerror(gz, &errnum)
                return gzclose(gz) == Z_OK && n == 0 && errnum == 0
            }
            guard buf.withUnsafeBufferPointer({ take(UnsafeBufferPointer(rebasing: $0[0..<Int(n)])) }) else { gzclose(gz); return false }
        }
    }

    /// Whether the gzip file at `path` inflates without error to exactly `bytes` bytes.
    static func gzipInflatesWhole(_ path: String, to bytes: Int64) -> Bool {
        guard let gz = gzopen(path, "rb") else { return false }
        var total: Int64 = 0
        return inflate(gz) { total += Int64($0.count); return true } && total == bytes
    }

    static func matrix(_ m: nifti_dmat44) -> [[Double]] {
        withUnsafeBytes(of: m.m) { raw in
            let v = Array(raw.bindMemory(to: Double.self))
            return (0..<4).map { r in Array(v[(r * 4)..<(r * 4 + 4)]) }
        }
    }

    /// Writes `data` (C order, [nz, ny, nx] or [ny, nx]) as .nii or .nii.gz (by the extension),
    /// atomically. The grid comes from `geometry` (a label map keeps its image's affine), else
    /// from `spacing` (per array axis) with an identity-like qform.
    public static func write(_ data: NDArray, to path: String, geometry: NiftiGeometry?, spacing: [Double]? = nil) throws {
        quiet()
        let lower = path.lowercased()
        guard lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") else {
            throw VolumeError("a NIfTI file name must end in .nii or .nii.gz", path: path)
        }
        guard let code = dtypes.first(where: { $0.value == data.dtype })?.key else {
            throw VolumeError("cannot write \(data.dtype.numpyName) data as NIfTI", path: path)
        }
        guard (1...7).contains(data.shape.count) else { throw VolumeError("cannot write a \(data.shape.count)-d array as NIfTI", path: path) }
        var dims = [Int64](repeating: 1, count: 8)
        dims[0] = Int64(data.shape.count)
        for (i, d) in data.shape.reversed().enumerated() { dims[i + 1] = Int64(d) }
        guard let nim = nifti_make_new_nim(dims, code, 0) else { throw VolumeError("cannot create a NIfTI image", path: path) }
        defer {
            nim.pointee.data = nil  // our buffer; freed below
            nifti_image_free(nim)
        }
        if let g = geometry {
            withUnsafeMutableBytes(of: &nim.pointee.pixdim) { raw in
                let p = raw.bindMemory(to: Double.self)
                for i in 1...7 { p[i] = g.pixdim[i - 1] }
            }
            nim.pointee.qform_code = g.qformCode
            nim.pointee.sform_code = g.sformCode
            (nim.pointee.quatern_b, nim.pointee.quatern_c, nim.pointee.quatern_d) = (g.quatern[0], g.quatern[1], g.quatern[2])
            (nim.pointee.qoffset_x, nim.pointee.qoffset_y, nim.pointee.qoffset_z) = (g.quatern[3], g.quatern[4], g.quatern[5])
            nim.pointee.qfac = g.quatern[6] == 0 ? 1 : g.quatern[6]
            withUnsafeMutableBytes(of: &nim.pointee.sto_xyz.m) { raw in
                let p = raw.bindMemory(to: Double.self)
                for r in 0..<4 { for c in 0..<4 { p[r * 4 + c] = g.sform[r][c] } }
            }
            nim.pointee.xyz_units = g.xyzUnits
            nim.pointee.time_units = g.timeUnits
        } else {
            let s = spacing ?? [Double](repeating: 1, count: data.shape.count)
            withUnsafeMutableBytes(of: &nim.pointee.pixdim) { raw in
                let p = raw.bindMemory(to: Double.self)
                for (i, v) in s.reversed().enumerated() { p[i + 1] = v }
            }
            nim.pointee.qform_code = 1
            nim.pointee.qfac = 1
            nim.pointee.xyz_units = 2  // mm
        }
        // Always NIfTI-1: libnifti 3.0.1 writes NIfTI-2 files without a header (docs/DECISIONS.md).
        guard data.shape.allSatisfy({ $0 <= 32767 }) else {
            throw VolumeError("dimensions \(data.shape) exceed what NIfTI-1 can hold (32767)", path: path)
        }
        nim.pointee.nifti_type = 1
        // Unused dimensions are 1 with a voxel size of 1, as nibabel writes them (0 there made
        // nibabel warn "pixdim[1,2,3] should be non-zero" for a 2D mask).
        let d = withUnsafeMutableBytes(of: &nim.pointee.dim) { raw in
            let d = raw.bindMemory(to: Int64.self)
            for i in (data.shape.count + 1)..<8 { d[i] = 1 }
            return Array(d)
        }
        (nim.pointee.nx, nim.pointee.ny, nim.pointee.nz, nim.pointee.nt) = (d[1], d[2], d[3], d[4])
        (nim.pointee.nu, nim.pointee.nv, nim.pointee.nw) = (d[5], d[6], d[7])
        withUnsafeMutableBytes(of: &nim.pointee.pixdim) { raw in
            let p = raw.bindMemory(to: Double.self)
            for i in (data.shape.count + 1)..<8 where p[i] == 0 || !p[i].isFinite { p[i] = 1 }
        }
        // Keep dx, dy, ... consistent with pixdim, as libnifti expects.
        withUnsafeBytes(of: nim.pointee.pixdim) { raw in
            let p = raw.bindMemory(to: Double.self)
            (nim.pointee.dx, nim.pointee.dy, nim.pointee.dz) = (p[1], p[2], p[3])
            (nim.pointee.dt, nim.pointee.du, nim.pointee.dv, nim.pointee.dw) = (p[4], p[5], p[6], p[7])
        }
        try AtomicFile.replace(path) { tmp in
            guard nifti_set_filenames(nim, tmp, 0, 1) == 0 else { throw VolumeError("bad file name", path: path) }
            try data.storage.withUnsafeBytes { raw in
                nim.pointee.data = UnsafeMutableRawPointer(mutating: raw.baseAddress)
                nifti_image_write(nim)
                nim.pointee.data = nil
                // nifti_image_write reports nothing: read the header back and check the size.
                guard let back = nifti_image_read(tmp, 0) else { throw VolumeError("writing failed (disk full?)", path: path) }
                let offset = back.pointee.iname_offset
                nifti_image_free(back)
                if nifti_is_gzfile(tmp) == 0 {
                    var st = stat()
                    guard stat(tmp, &st) == 0, Int64(st.st_size) >= offset + Int64(data.storage.count) else {
                        throw VolumeError("writing failed (disk full?)", path: path)
                    }
                } else {
                    // znzlib does not report a gzip stream that could not be flushed or closed (a
                    // nearly full disk left a 4 KB file and "saved"): inflate it whole, which
                    // fails on a cut stream, and check its length.
                    guard gzipInflatesWhole(tmp, to: Int64(offset) + Int64(data.storage.count)) else {
                        throw VolumeError("writing failed (disk full?)", path: path)
                    }
                }
            }
        }
    }
}
