// Atomic writes: data goes to a temporary file beside the target, which is then renamed over it,
// so a crash or a full disk never leaves a half-written file under the user's name.
import Foundation
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

    /// Where a write to `path` goes: through symlinks to the file they name (a rename over the
    /// link itself would replace the link with a plain file), up to 40 links deep.
    public static func destination(_ path: String) throws -> String {
        var p = path
        for _ in 0..<40 {
            // /dev/stdout and /proc/self/fd/N name an open file: written to, never replaced.
            if isStream(p) { return p }
            var st = stat()
            guard lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return p }
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(p, &buf, buf.count - 1)
            guard n >= 0 else { return p }
            let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let dir = p.lastIndex(of: "/").map { String(p[...$0]) } ?? ""
            p = target.hasPrefix("/") ? target : dir + target
        }
        throw VolumeError("too many levels of symbolic links", path: path)
    }

    /// What is at a path a write would go to.
    public enum Kind: Equatable {
        case none
        /// A regular file, its size and permission bits.
        case regular(size: Int, mode: mode_t)
        case directory
        /// A pipe, a device or a socket: written to, never replaced.
        case special
    }

    /// What a write to `path` would meet, through symlinks (`destination`).
    public static func target(_ path: String) -> Kind {
        (try? destination(path)).map(kind) ?? .none
    }

    private static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .none }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular(size: Int(st.st_size), mode: st.st_mode & 0o7777)
        case S_IFDIR: return .directory
        default: return .special
        }
    }

    /// Runs `body` to produce a temporary file, flushes it to the disk, then renames it over
    /// `path` (the file a symlink there names); removes the temporary file when anything fails.
    /// A device or a pipe at `path` (/dev/stdout, /dev/null, a FIFO) is written to, not replaced.
    public static func replace(_ path: String, _ body: (String) throws -> Void) throws {
        let path = try destination(path)
        if isStream(path) { return try stream(path, body) }
        var mode: mode_t?
        switch kind(path) {
        case .none: break
        case .regular(_, let m): mode = m
        case .directory: throw VolumeError("is a directory", path: path)
        case .special: return try stream(path, body)
        }
        removeAbandoned(besides: path)
        let tmp = temporaryPath(for: path)
        pending.insert(tmp)
        defer { pending.remove(tmp) }
        do {
            try body(tmp)
            let fd = open(tmp, O_RDONLY)
            guard fd >= 0 else { throw VolumeError("the written file vanished: \(String(cString: strerror(errno)))", path: path) }
            // A file replaced keeps its permissions (a report kept private stays private).
            if let mode { _ = fchmod(fd, mode) }
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

    /// Whether `name` is a temporary file (`temporaryPath`, or libzip's own beside one) whose
    /// writer is gone: killed mid-write, it could not remove it.
    public static func isAbandoned(_ name: String) -> Bool {
        guard name.hasPrefix("."), let tail = name.components(separatedBy: ".tmp-").dropFirst().last,
              let pidText = tail.split(separator: "-").first, let pid = Int32(pidText), pid > 0, pid != getpid() else { return false }
        // kill(pid, 0) fails with ESRCH only when no such process exists.
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Removes what killed writers left in `path`'s folder (a save killed mid-write left a
    /// hidden temporary file in the user's folder for good), once a process and folder: a batch
    /// writing thousands of files into one folder lists it once.
    static func removeAbandoned(besides path: String) {
        let dir = PathText.parent(path)
        guard cleanedFolders.insert(dir.isEmpty ? "." : dir),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return }
        for name in names where isAbandoned(name) { unlink((dir.isEmpty ? "" : dir == "/" ? "/" : dir + "/") + name) }
    }

    private static let cleanedFolders = FolderSet()

    /// Temporary files being written now: an interrupted program removes them on its way out.
    public static func removePending() { pending.removeAll { unlink($0) } }

    /// Runs `body` with the temporary file `path` (made by the caller) removed by an interrupt.
    static func whilePending<T>(_ path: String, _ body: () throws -> T) rethrows -> T {
        pending.insert(path)
        defer { pending.remove(path) }
        return try body()
    }

    private static let pending = PendingFiles()

    static func isStream(_ path: String) -> Bool { path.hasPrefix("/dev/") || path.hasPrefix("/proc/") }

    /// The file `body` makes, copied into a device or pipe at `path` (a temporary file in the
    /// system's temporary directory, since the device's own directory may not be writable).
    private static func stream(_ path: String, _ body: (String) throws -> Void) throws {
        let name = (path as NSString).lastPathComponent
        let tmp = temporaryPath(for: NSTemporaryDirectory() + "/" + (name.isEmpty ? "out" : name))
        pending.insert(tmp)
        defer { unlink(tmp); pending.remove(tmp) }
        try body(tmp)
        guard let data = FileManager.default.contents(atPath: tmp) else {
            throw VolumeError("the written file vanished", path: path)
        }
        fflush(stdout)   // after what the program printed, when `path` is its standard output
        // One of this process's own descriptors (/dev/stdout, /dev/fd/1) is written through it, at
        // its offset, as the shell's later output will be; reopening it would start elsewhere.
        let own: Int32? = path == "/dev/stdout" ? 1 : path == "/dev/stderr" ? 2
            : ["/dev/fd/", "/proc/self/fd/"].lazy.compactMap { path.hasPrefix($0) ? Int32(path.dropFirst($0.count)) : nil }.first
        let fd = own ?? open(path, O_WRONLY | O_APPEND)
        guard fd >= 0 else { throw VolumeError("cannot write: \(String(cString: strerror(errno)))", path: path) }
        defer { if own == nil { close(fd) } }
        var off = 0
        try data.withUnsafeBytes { raw in
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw VolumeError("write failed: \(String(cString: strerror(errno)))", path: path) }
                off += n
            }
        }
    }
}

/// A locked set of paths.
private final class PendingFiles: @unchecked Sendable {
    private let lock = NSLock()
    private var paths = Set<String>()
    func insert(_ p: String) { lock.lock(); paths.insert(p); lock.unlock() }
    func remove(_ p: String) { lock.lock(); paths.remove(p); lock.unlock() }
    func removeAll(_ each: (String) -> Void) { lock.lock(); paths.forEach(each); paths.removeAll(); lock.unlock() }
}

/// Folders already cleared of abandoned temporary files, locked.
private final class FolderSet: @unchecked Sendable {
    private let lock = NSLock()
    private var folders = Set<String>()
    /// True when `folder` was not in the set (it is now).
    func insert(_ folder: String) -> Bool { lock.lock(); defer { lock.unlock() }; return folders.insert(folder).inserted }
}
