// Editing the command line as a shell does: a cursor within the line, moved by the arrows,
// Home/End and the readline control keys, with inserts and deletes at it.

/// The command line's text and cursor. The cursor counts characters from the end of the line
/// (0: after the last), so a recalled or freshly typed line starts with it at the end.
struct LineEditor: Equatable {
    var text: String
    var fromEnd: Int = 0

    /// Characters before the cursor.
    var position: Int { text.count - min(max(0, fromEnd), text.count) }

    /// The line after `key`, or nil when `key` does not edit a line (Enter, Esc, Up, Down...).
    func applying(_ key: Key) -> LineEditor? {
        var chars = Array(text)
        var at = position
        switch key {
        case .char(let c): chars.insert(c, at: at); at += 1
        case .left, .ctrl("b"): at = max(0, at - 1)
        case .right, .ctrl("f"): at = min(chars.count, at + 1)
        case .home, .ctrl("a"): at = 0
        case .end, .ctrl("e"): at = chars.count
        case .backspace:
            guard at > 0 else { return self }
            chars.remove(at: at - 1); at -= 1
        case .delete, .ctrl("d"):
            // Under the cursor; at the end of the line the one before it (terminals that send
            // Delete for the backspace key still erase).
            if at < chars.count { chars.remove(at: at) } else if at > 0 { chars.remove(at: at - 1); at -= 1 }
        case .ctrl("u"): chars.removeSubrange(0..<at); at = 0
        case .ctrl("k"): chars.removeSubrange(at..<chars.count)
        case .ctrl("w"):
            // The word before the cursor and the spaces after it.
            var start = at
            while start > 0 && chars[start - 1] == " " { start -= 1 }
            while start > 0 && chars[start - 1] != " " { start -= 1 }
            chars.removeSubrange(start..<at); at = start
        default: return nil
        }
        return LineEditor(text: String(chars), fromEnd: chars.count - at)
    }
}
