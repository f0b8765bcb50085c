// numpy .npz archives: a zip (stored or deflated members, ZIP64 for big arrays) of .npy files.
// The zip layer is libzip, which checks CRCs and handles ZIP64; each member's npy header is
// checked against the member's size before its data is allocated.
import CZip
#if canImport(Glibc)
import Glibc
#endif

public enum Npz {
    /// Every array in the archive, in archive order, named without the ".npy" suffix.
    public static func read(path: String) throws -> [(name: String, array: NDArray)] {
        try withArchive(path) { za in
            try members(za, path: path).map { (idx, name, size) in
                (name, try readMember(za, index: idx, name: name, size: size, path: path))
            }
        }
    }

    /// Reads only the arrays whose names are in `names` (others are not decompressed).
    public static func read(path: String, only names: Set<String>) throws -> [(name: String, array: NDArray)] {
        try withArchive(path) { za in
            try members(za, path: path).filter { names.contains($0.name) }.map { (idx, name, size) in
                (name, try readMember(za, index: idx, name: name, size: size, path: path))
            }
        }
    }

    /// Every array, each read on its own: one that cannot be read is its error, and the others
    /// are still read (the archive is opened once).
    public static func readEach(path: String) throws -> [(name: String, array: Result<NDArray, Error>)] {
        try withArchive(path) { za in
            try members(za, path: path).map { (idx, name, size) in
                (name, Result { try readMember(za, index: idx, name: name, size: size, path: path) })
            }
        }
    }

    /// The arrays' names, in archive order, reading nothing of them.
    public static func names(path: String) throws -> [String] {
        try withArchive(path) { za in try members(za, path: path).map(\.name) }
    }

    /// Names, dtypes and shapes of the arrays, reading only their headers.
    public static func listArrays(path: String) throws -> [(name: String, dtype: DType, shape: [Int])] {
        try withArchive(path) { za in
            try members(za, path: path).map { (idx, name, size) in
                let h = try header(za, index: idx, name: name, size: size, path: path).header
                return (name, h.dtype, h.shape)
            }
        }
    }

    /// Writes `arrays` as an npz that numpy reads (`np.savez_compressed` when `compressed`),
    /// atomically: a temporary file beside `path`, then a rename.
    public static func write(_ arrays: [(name: String, array: NDArray)], to path: String, compressed: Bool = true) throws {
        try AtomicFile.replace(path) { tmp in
            var err: Int32 = 0
            guard let za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &err) else {
                throw VolumeError("cannot create zip (libzip error \(err))", path: path)
            }
            var closed = false
            defer { if !closed { zip_discard(za) } }
            for (name, array) in arrays {
                let blob = Npy.encode(array)
                guard let buf = malloc(max(blob.count, 1)) else { throw VolumeError("out of memory", path: path) }
                blob.withUnsafeBytes { _ = memcpy(buf, $0.baseAddress!, blob.count) }
                guard let src = zip_source_buffer(za, buf, zip_uint64_t(blob.count), 1) else {
                    free(buf)
                    throw VolumeError("cannot add `\(name)`: \(errorText(za))", path: path)
                }
                let idx = zip_file_add(za, name + ".npy", src, zip_flags_t(ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE))
                if idx < 0 {
                    zip_source_free(src)
                    throw VolumeError("cannot add `\(name)`: \(errorText(za))", path: path)
                }
                // numpy's time for every member (1980-01-01, the zip format's first): the same
                // arrays give the same bytes, whenever written.
                var midnight = tm(); midnight.tm_year = 80; midnight.tm_mday = 1; midnight.tm_isdst = -1
                _ = zip_file_set_mtime(za, zip_uint64_t(idx), mktime(&midnight), 0)
                let method: Int32 = compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE
                guard zip_set_file_compression(za, zip_uint64_t(idx), method, 0) == 0 else {
                    throw VolumeError("cannot set compression: \(errorText(za))", path: path)
                }
            }
            guard zip_close(za) == 0 else { throw VolumeError("cannot write: \(errorText(za))", path: path) }
            closed = true
        }
    }

    // MARK: - Reading helpers

    static func withArchive<T>(_ path: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        var err: Int32 = 0
        // A directory, pipe or device is said to be one (not "damaged zip archive").
        try FileFormat.requireRegularFile(path)
        guard access(path, R_OK) == 0 else { throw VolumeError(String(cString: strerror(errno)), path: path) }
        var st = stat()
        if stat(path, &st) == 0 && st.st_size == 0 { throw VolumeError("is empty (0 bytes)", path: path) }
        guard let za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err) else {
            var ze = zip_error_t()
            zip_error_init_with_code(&ze, err)
            defer { zip_error_fini(&ze) }
            let what = err == ZIP_ER_NOZIP ? "not an npz (zip) archive, or a truncated one"
                : err == ZIP_ER_EXISTS ? "damaged npz: two of its members have one name"
                : "damaged zip archive: \(String(cString: zip_error_strerror(&ze)))"
            throw VolumeError(what, path: path)
        }
        defer { zip_discard(za) }
        return try body(za)
    }

    /// (index, array name, uncompressed size) of each .npy member.
    static func members(_ za: OpaquePointer, path: String) throws -> [(index: UInt64, name: String, size: Int)] {
        let n = zip_get_num_entries(za, 0)
        var out: [(UInt64, String, Int)] = []
        for i in 0..<UInt64(max(n, 0)) {
            var st = zip_stat_t()
            zip_stat_init(&st)
            guard zip_stat_index(za, i, 0, &st) == 0, let cname = st.name else {
                throw VolumeError("damaged zip entry \(i): \(errorText(za))", path: path)
            }
            var name = String(cString: cname)
            if name.hasSuffix("/") { continue }
            if name.hasSuffix(".npy") { name.removeLast(4) }
            guard st.size <= UInt64(Npy.maxBytes) + (1 << 20) else {
                throw VolumeError("`\(name)` claims \(st.size) bytes, which is absurd", path: path)
            }
            // deflate packs at most 1032 bytes into one, and a stored member is its own size: a
            // larger claim is refused before anything is allocated for it.
            let method = Int32(st.comp_method)
            if st.valid & UInt64(ZIP_STAT_COMP_SIZE) != 0, method == ZIP_CM_STORE || method == ZIP_CM_DEFLATE {
                let most = method == ZIP_CM_STORE ? st.comp_size : st.comp_size.multipliedReportingOverflow(by: 1032).partialValue + 1024
                guard st.size <= most else {
                    throw VolumeError("`\(name)` claims \(st.size) bytes from \(st.comp_size) compressed ones, which is impossible (the archive is damaged)", path: path)
                }
            }
            out.append((i, name, Int(st.size)))
        }
        return out
    }

    static func header(_ za: OpaquePointer, index: UInt64, name: String, size: Int, path: String)
        throws -> (header: Npy.Header, file: OpaquePointer, prefix: [UInt8]) {
        guard let zf = zip_fopen_index(za, index, 0) else {
            throw VolumeError("cannot open `\(name)`: \(errorText(za))", path: path)
        }
        var prefix = [UInt8](repeating: 0, count: min(size, 4096))
        var got = prefix.isEmpty ? 0 : zip_fread(zf, &prefix, zip_uint64_t(prefix.count))
        // A header longer than the first read: the rest of it.
        if got == prefix.count, let need = Npy.headerSize(prefix), need > prefix.count, need <= size {
            let first = prefix.count
            prefix += [UInt8](repeating: 0, count: need - first)
            let more = prefix.withUnsafeMutableBytes { zip_fread(zf, $0.baseAddress! + first, zip_uint64_t(need - first)) }
            got = more < 0 ? more : got + more
        }
        guard got == prefix.count else {
            let e = fileErrorText(zf)
            zip_fclose(zf)
            throw VolumeError("`\(name)`: \(e)", path: path)
        }
        do {
            let h = try Npy.parseHeader(prefix)
            guard size - h.dataOffset >= h.dataBytes else {
                throw VolumeError("`\(name)`: header promises \(h.dataBytes) bytes of data but the member holds \(size - h.dataOffset)")
            }
            return (h, zf, prefix)
        } catch let e as VolumeError {
            zip_fclose(zf)
            throw VolumeError(e.problem.hasPrefix("`") ? e.problem : "`\(name)`: \(e.problem)", path: path)
        }
    }

    static func readMember(_ za: OpaquePointer, index: UInt64, name: String, size: Int, path: String) throws -> NDArray {
        let (h, zf, prefix) = try header(za, index: index, name: name, size: size, path: path)
        defer { zip_fclose(zf) }
        // Only what the npy header needs is kept; the rest of the member is read and dropped.
        let needed = h.dataOffset + h.dataBytes
        var all = [UInt8](repeating: 0, count: needed)
        let kept = min(prefix.count, needed)
        all.replaceSubrange(0..<kept, with: prefix[0..<kept])
        var off = prefix.count
        func short(_ n: Int64) -> VolumeError {
            VolumeError("`\(name)`: \(n < 0 ? fileErrorText(zf) : "member is shorter than its size")", path: path)
        }
        while off < needed {
            let n = all.withUnsafeMutableBytes { zip_fread(zf, $0.baseAddress! + off, zip_uint64_t(needed - off)) }
            guard n > 0 else { throw short(n) }
            off += Int(n)
        }
        if off < size {
            var sink = [UInt8](repeating: 0, count: min(size - off, 1 << 16))
            while off < size {
                let n = sink.withUnsafeMutableBytes { zip_fread(zf, $0.baseAddress!, zip_uint64_t(min(size - off, $0.count))) }
                guard n > 0 else { throw short(n) }
                off += Int(n)
            }
        }
        // Reading to the end lets libzip verify the CRC.
        var extra: UInt8 = 0
        let more = zip_fread(zf, &extra, 1)
        guard more == 0 else {
            throw VolumeError("`\(name)`: \(more > 0 ? "holds more data than its size says (the archive is damaged)" : fileErrorText(zf))", path: path)
        }
        do {
            return try Npy.makeArray(h, data: all[h.dataOffset..<(h.dataOffset + h.dataBytes)])
        } catch let e as VolumeError {
            throw VolumeError("`\(name)`: \(e.problem)", path: path)
        }
    }

    static func errorText(_ za: OpaquePointer) -> String { String(cString: zip_error_strerror(zip_get_error(za))) }
    static func fileErrorText(_ zf: OpaquePointer) -> String {
        let e = zip_file_get_error(zf)!
        switch zip_error_code_zip(e) {
        case ZIP_ER_CRC: return "CRC error (the archive is damaged)"
        case ZIP_ER_ZLIB: return "its compressed data is damaged (\(String(cString: zip_error_strerror(e))))"
        case ZIP_ER_OK: return "it cannot be read (the archive is damaged)"   // libzip set no reason
        default: return String(cString: zip_error_strerror(e))
        }
    }
}
