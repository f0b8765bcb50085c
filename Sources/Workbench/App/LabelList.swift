// Label numbers as a short text, for messages.

enum LabelList {
    /// Sorted labels with runs folded: "2, 4-9".
    static func text(_ labels: [Int]) -> String {
        let labels = Array(Set(labels)).sorted()
        var parts: [String] = [], i = 0
        while i < labels.count {
            var j = i
            while j + 1 < labels.count && labels[j + 1] == labels[j] + 1 { j += 1 }
            parts.append(j > i ? "\(labels[i])-\(labels[j])" : "\(labels[i])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}
