// File paths as text. Foundation's NSString.deletingLastPathComponent traps on one-character
// names ("z", "x/") in the toolchain's Linux Foundation, so the directory part of a path is
// taken here instead.

#if canImport(Glibc)
import Glibc
#endif

public enum PathText {
    /// The home directory as the shell has it: $HOME, else the user database's.
    public static var home: String {
        if let h = getenv("HOME"), h.pointee != 0 { return String(cString: h) }
        if let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir { return String(cString: dir) }
        return "/"
    }

    /// `path` with a leading `~` (the home directory, `home`) or `~user` (that user's) replaced
    /// as the shell replaces it; other paths, and an unknown user, as they are.
    public static func expandingTilde(_ path: String) -> String {
        guard path.hasPrefix("~") else { return path }
        let slash = path.firstIndex(of: "/") ?? path.endIndex
        let user = String(path[path.index(after: path.startIndex)..<slash]), rest = path[slash...]
        if user.isEmpty { return (home == "/" && rest.hasPrefix("/") ? "" : home) + rest }
        guard let pw = getpwnam(user), let dir = pw.pointee.pw_dir else { return path }
        return String(cString: dir) + rest
    }

    /// The directory part of `path`, as NSString.deletingLastPathComponent gives it: "" for a
    /// bare name ("z", "x/"), "/" for a name at the root, "a" for "a/b" and "a//b/"; "/" for "/".
    public static func parent(_ path: String) -> String {
        var s = Substring(path)
        while s.count > 1 && s.hasSuffix("/") { s = s.dropLast() }
        if s == "/" { return "/" }
        guard let i = s.lastIndex(of: "/") else { return "" }
        var head = s[..<i]
        while head.count > 1 && head.hasSuffix("/") { head = head.dropLast() }
        return head.isEmpty ? "/" : String(head)
    }
}
