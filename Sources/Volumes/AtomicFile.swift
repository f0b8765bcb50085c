// Atomic writes: data goes to a temporary file beside the target, which is then renamed over it,
// so a crash or a full disk never leaves a half-written file under the user's name.
#if canImport(Glibc)
import Glibc
#endif

public enum AtomicFile {
    /// A temporary path in the same directory as `path` (so the rename stays on one filesystem),
    /// keeping the file's extension(s), in lower case, for libraries that choose a format by name
    /// (libnifti takes `.nii.gz` for gzip but not `.NII.GZ`).
    public static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let lower = base.lowercased()
        let ext = lower.hasSuffix(".nii.gz") ? ".nii.gz" : (lower.lastIndex(of: ".").map { String(lower[$0...]) } ?? "")
        return "\(dir).\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))\(ext)"
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try replace(path) { tmp in
            guard let f = fopen(tmp, "wb") else { throw VolumeError("cannot write: \(String(cString: strerror(errno)))", path: path) }
            let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
            let closed = fclose(f)
            guard n == bytes.count, closed == 0 else { throw VolumeError("write failed: \(String(cString: strerror(errno)))", path: path) }
        }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Runs `body` to produce a temporary file, flushes it to the disk, then renames it over
    /// `path`; removes the temporary file when anything fails.
    public static func replace(_ path: String, _ body: (String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try body(tmp)
            let fd = open(tmp, O_RDONLY)
            guard fd >= 0 else { throw VolumeError("the written file vanished: \(String(cString: strerror(errno)))", path: path) }
            let synced = fsync(fd)
            close(fd)
            guard synced == 0 else { throw VolumeError("cannot flush to disk: \(String(cString: strerror(errno)))", path: path) }
            guard rename(tmp, path) == 0 else {
                throw VolumeError("cannot replace file: \(String(cString: strerror(errno)))", path: path)
            }
        } catch {
            unlink(tmp)
            throw error
        }
    }
}
