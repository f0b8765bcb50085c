// Tab on the command line completes a command's name, the word after `preset`, `view` and
// `orient`, and the PATH after `save` and `load` (files and folders, `~` for the home folder), as
// far as the candidates agree (as a shell does); when they do not agree, the choices are shown
// after the line.
import Foundation
import Volumes

enum Completion {
    static let commands = ["boxes", "box", "delete", "goto", "help", "label", "load", "orient", "preset", "quit", "redo",
                           "save", "segment", "slice", "undo", "view", "window", "zrange"]
    static let arguments: [String: [String]] = [
        "preset": ["auto", "soft-tissue", "lung", "bone", "brain"],
        "view": ["axial", "coronal", "sagittal"],
        "orient": ["standard", "stored", "toggle"],
    ]
    /// Commands whose argument is a path.
    static let pathCommands: Set<String> = ["save", "w", "load"]

    /// A folder's entries as (name, is a folder), or nil when it cannot be read.
    static func listFolder(_ dir: String) -> [(name: String, isFolder: Bool)]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        return names.map { name in
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(name), isDirectory: &isDir)
            return (name, isDir.boolValue)
        }
    }

    /// The words the line's last word may become (none where nothing completes); a folder ends
    /// with "/".
    static func choices(_ line: String) -> [String] {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        // A PATH is the rest of the line (it may hold spaces; spaces before it do not count).
        if words.count >= 2, pathCommands.contains(words[0].lowercased()) {
            return paths(String(line.dropFirst(words[0].count).drop { $0 == " " }))
        }
        let last = (words.last ?? "").lowercased()
        let candidates = words.count == 1 ? commands : words.count == 2 ? arguments[words[0].lowercased()] ?? [] : []
        return candidates.filter { $0.hasPrefix(last) }
    }

    /// The entries `typed` may become: its folder's entries that start with its last part
    /// (hidden ones only when that part starts with a dot), in name order.
    static func paths(_ typed: String) -> [String] {
        let cut = typed.lastIndex(of: "/").map { typed.index(after: $0) } ?? typed.startIndex
        let folder = String(typed[..<cut]), start = String(typed[cut...])
        let expanded = PathText.expandingTilde(folder)
        guard let entries = listFolder(expanded.isEmpty ? "." : expanded) else { return [] }
        return entries.filter { $0.name.hasPrefix(start) && (start.hasPrefix(".") || !$0.name.hasPrefix(".")) }
            .map { folder + $0.name + ($0.isFolder ? "/" : "") }.sorted()
    }

    /// Choices as the line shows them: a path by its last part ("ch2_seg.nii.gz", "data/").
    static func shown(_ choices: [String]) -> [String] {
        choices.map { c in
            let trimmed = c.hasSuffix("/") ? String(c.dropLast()) : c
            guard let slash = trimmed.lastIndex(of: "/") else { return c }
            return String(trimmed[trimmed.index(after: slash)...]) + (c.hasSuffix("/") ? "/" : "")
        }
    }

    /// The line with its last word completed: whole when one candidate starts with it (with a
    /// space after it, except after a folder, which is typed into next), else to the
    /// candidates' common start; nil when nothing can be added.
    static func complete(_ line: String) -> String? {
        let matches = choices(line)
        guard let first = matches.first else { return nil }
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let last = words.count >= 2 && pathCommands.contains(words[0].lowercased())
            ? String(line.dropFirst(words[0].count).drop { $0 == " " }) : words.last ?? ""
        let head = String(line.dropLast(last.count))
        if matches.count == 1 { return head + first + (first.hasSuffix("/") ? "" : " ") }
        var common = first
        for m in matches.dropFirst() { while !m.hasPrefix(common) { common.removeLast() } }
        return common.count > last.count ? head + common : nil
    }
}
