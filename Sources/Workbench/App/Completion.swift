// Tab on the command line completes a command's name, and the word after `preset`, `view` and
// `orient`, as far as the candidates agree (as a shell does); when they do not agree, the
// choices are shown after the line.

enum Completion {
    static let commands = ["boxes", "box", "delete", "goto", "help", "label", "load", "orient", "preset", "quit", "redo",
                           "save", "segment", "slice", "undo", "view", "window", "zrange"]
    static let arguments: [String: [String]] = [
        "preset": ["auto", "soft-tissue", "lung", "bone", "brain"],
        "view": ["axial", "coronal", "sagittal"],
        "orient": ["standard", "stored", "toggle"],
    ]

    /// The words the line's last word may become (none where nothing completes).
    static func choices(_ line: String) -> [String] {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let last = (words.last ?? "").lowercased()
        let candidates = words.count == 1 ? commands : words.count == 2 ? arguments[words[0].lowercased()] ?? [] : []
        return candidates.filter { $0.hasPrefix(last) }
    }

    /// The line with its last word completed: whole (and a space after it) when one candidate
    /// starts with it, else to the candidates' common start; nil when nothing can be added.
    static func complete(_ line: String) -> String? {
        let matches = choices(line)
        guard let first = matches.first else { return nil }
        let last = line.split(separator: " ", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let head = String(line.dropLast(last.count))
        if matches.count == 1 { return head + first + " " }
        var common = first
        for m in matches.dropFirst() { while !m.hasPrefix(common) { common.removeLast() } }
        return common.count > last.count ? head + common : nil
    }
}
