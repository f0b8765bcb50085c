// Tab on the command line completes a command's name, and the word after `preset`, `view` and
// `orient`, as far as the candidates agree (as a shell does).

enum Completion {
    static let commands = ["boxes", "box", "delete", "goto", "help", "label", "orient", "preset", "quit", "redo",
                           "save", "segment", "slice", "undo", "view", "window", "zrange"]
    static let arguments: [String: [String]] = [
        "preset": ["auto", "soft-tissue", "lung", "bone", "brain"],
        "view": ["axial", "coronal", "sagittal"],
        "orient": ["standard", "stored", "toggle"],
    ]

    /// The line with its last word completed: whole (and a space after it) when one candidate
    /// starts with it, else to the candidates' common start; nil when nothing can be added.
    static func complete(_ line: String) -> String? {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let last = words.last ?? ""
        let candidates: [String]
        if words.count == 1 {
            candidates = commands
        } else if words.count == 2, let args = arguments[words[0].lowercased()] {
            candidates = args
        } else {
            return nil
        }
        let matches = candidates.filter { $0.hasPrefix(last.lowercased()) }
        guard let first = matches.first else { return nil }
        let head = String(line.dropLast(last.count))
        if matches.count == 1 { return head + first + " " }
        var common = first
        for m in matches.dropFirst() { while !m.hasPrefix(common) { common.removeLast() } }
        return common.count > last.count ? head + common : nil
    }
}
