// Where the headless commands write: output directories made with a one-line error, and the
// checks that keep an output from landing on an input (or on another output).
import Foundation
import Volumes

enum OutputPaths {
    /// Creates `dir` and its parents when missing ("" is the current directory). Errors are one
    /// line naming the directory and the reason, not Foundation's error dump.
    static func makeDirectory(_ dir: String, for what: String) throws {
        guard !dir.isEmpty else { return }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CLIError("\(dir): \(what) exists and is not a directory", status: 1) }
            return
        }
        // A file where a parent directory should be (-o afile/sub) gets a plain message.
        var parent = PathText.parent(dir)
        while !parent.isEmpty && parent != "/" {
            if FileManager.default.fileExists(atPath: parent, isDirectory: &isDir) {
                guard isDir.boolValue else { throw CLIError("\(dir): cannot create \(what) (\(parent) is a file)", status: 1) }
                break
            }
            parent = PathText.parent(parent)
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw CLIError("\(dir): cannot create \(what) (\(reason(error)))", status: 1)
        }
    }

    /// The POSIX reason under a Foundation file error ("Read-only file system"), else its text.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        switch ns.code {
        case NSFileWriteFileExistsError: return "a file of that name is in the way"
        case NSFileWriteVolumeReadOnlyError: return "Read-only file system"
        case NSFileWriteNoPermissionError: return "Permission denied"
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "No such file or directory"
        default: return ns.localizedDescription
        }
    }

    /// The file's identity (device, inode), or nil when it does not exist: two paths name the
    /// same file (through links, `..` or symlinks) exactly when their identities are equal.
    static func identity(_ path: String) -> [Int]? { version(path).map { Array($0.prefix(2)) } }

    /// One version of a file: its identity, size and modification time (nil if it does not
    /// exist). A file rewritten in place (cp, a shell redirection) changes the last two.
    static func version(_ path: String) -> [Int]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return [Int(st.st_dev), Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)]
    }

    /// Whether two paths name one file: the same path, or an existing file reached both ways.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        if absolute(a) == absolute(b) { return true }
        guard let x = identity(a) else { return false }
        return x == identity(b)
    }

    /// `path` made absolute and tidied ("./a" and "a" and "b/../a" are one path).
    static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (full as NSString).standardizingPath
    }

    /// Why a file cannot be written at `path` (a directory there, no such folder, no write
    /// permission), or nil when it can, checked before long work so it does not fail at the end.
    static func unwritable(_ path: String) -> String? {
        if path.hasSuffix("/") { return "ends with / (a folder's name, not a file's)" }
        guard let target = try? AtomicFile.destination(path) else { return "too many levels of symbolic links" }
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: target, isDirectory: &isDir)
        if exists && isDir.boolValue { return "is a directory" }
        // Devices and descriptors are written to as they are, never created.
        if target.hasPrefix("/dev/") || target.hasPrefix("/proc/") {
            return !exists ? "No such file or directory" : access(target, W_OK) == 0 ? nil : "not writable"
        }
        let dir = PathText.parent(target)
        let folder = dir.isEmpty ? "." : dir
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else { return "no such directory \(folder)" }
        guard isDir.boolValue else { return "\(folder) is not a directory" }
        return access(folder, W_OK) == 0 ? nil : "cannot write in \(folder) (\(String(cString: strerror(errno))))"
    }

    /// Whether `path` exists and is not a directory (a case file in a listed folder).
    static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) { return !isDir.boolValue }
        // A symlink to nothing is a case that cannot be read: it is counted (and reported), not
        // left out of the mean.
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Throws when `output` exists and is not a file `segment` wrote (an npz holding `segs` and
    /// nothing else): a ground-truth case of the same name (the challenge keeps imgs/ and gts/
    /// under one set of names), or anything else, is never replaced.
    static func refuseReplacingOtherThanSegs(_ output: String, flag: String, given: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDir) else { return }
        let name = (output as NSString).lastPathComponent
        guard !isDir.boolValue else { throw CLIError("\(flag) \(given) holds a directory named \(name); its output cannot go there", status: 1) }
        let keys = (try? Npz.listArrays(path: output).map(\.name)) ?? nil
        guard keys == ["segs"] else {
            let holds = keys.map { $0.isEmpty ? "no arrays" : "`" + $0.joined(separator: "`, `") + "`" } ?? "something other than an npz"
            throw CLIError("\(flag) \(given) already holds \(name) (with \(holds)), not an earlier segmentation; "
                + "it is left as it is (choose another \(flag), or move the file away)", status: 1)
        }
    }

    /// Throws when `output` is an existing file that does not begin with `start` (what an
    /// earlier report of this kind begins with) and is not empty: a case, an image or anything
    /// else that happens to bear the name is never replaced by a report. Devices and pipes
    /// (/dev/stdout) are written to as they are.
    static func refuseReplacingOtherThanReport(_ output: String, start: [String], flag: String, what: String) throws {
        guard case .regular(let size, _) = AtomicFile.target(output), size > 0,
              let target = try? AtomicFile.destination(output), let handle = FileHandle(forReadingAtPath: target) else { return }
        defer { try? handle.close() }
        let head = String(decoding: handle.readData(ofLength: 4096), as: UTF8.self)
        guard !start.contains(where: { head.hasPrefix($0) }) else { return }
        throw CLIError("\(flag) \(output) already exists and is not an earlier \(what); it is left as it is "
            + "(choose another \(flag), or move the file away)", status: 1)
    }

    /// Throws when writing `output` would replace one of `inputs`; `given` is what the user
    /// typed for it when that differs (the directory, for `segment -o`).
    static func refuseOverwriting(_ inputs: [String], with output: String, flag: String, given: String? = nil) throws {
        guard let out = identity(output) else { return }
        if let hit = inputs.first(where: { identity($0) == out }) {
            let what = given.map { "\(flag) \($0) holds the input \(hit)" } ?? "\(flag) \(output) is the input \(hit)"
            throw CLIError("\(what); writing it would replace the input (choose another \(flag))", status: 1)
        }
    }
}
