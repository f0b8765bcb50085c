// File paths as text. Foundation's NSString.deletingLastPathComponent traps on one-character
// names ("z", "x/") in the toolchain's Linux Foundation, so the directory part of a path is
// taken here instead.

public enum PathText {
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
