// Help text folded to a terminal's 80 columns.

enum TextWrap {
    static let width = 80

    /// `text`'s words in lines of at most `width` columns: the first line starts after `first`
    /// (already written by the caller, counted in columns), the others with `indent` spaces.
    /// A word longer than a line gets a line of its own.
    static func lines(_ text: String, first: Int = 0, indent: Int = 0, width: Int = width) -> [String] {
        var out: [String] = [], line = "", used = first, fresh = true
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            if !fresh && used + 1 + word.count > width {
                out.append(line)
                line = String(repeating: " ", count: indent); used = indent; fresh = true
            }
            line += (fresh ? "" : " ") + word
            used += (fresh ? 0 : 1) + word.count
            fresh = false
        }
        out.append(line)
        return out
    }

    /// Paragraphs (separated by blank lines) refolded to `width`.
    static func paragraphs(_ text: String, width: Int = width) -> String {
        text.components(separatedBy: "\n\n").map { p in
            lines(p.split(separator: "\n").joined(separator: " "), width: width).joined(separator: "\n")
        }.joined(separator: "\n\n")
    }
}
