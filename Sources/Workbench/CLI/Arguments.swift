import Foundation
import SegEngine

// A small command-line parser: options with values, flags, positionals, --help, and unknown
// options reported with the closest known spelling.

/// One option of a command. `value` names the option's argument (nil for a flag).
struct OptionSpec {
    var name: String          // "--tolerance"
    var short: String? = nil  // "-t"
    var value: String? = nil  // "MM"
    var help: String
    var repeatable = false

    /// `--precision P`, as every model-running command takes it.
    static let precision = OptionSpec(name: "--precision", value: "P", help:
        "int8 (default on CPUs with VNNI: int8 matrix products, fastest), bf16 (CPUs with AVX512-BF16: bf16 products, masks closer to fp32) or fp32 (default elsewhere; matches PyTorch)")
}

/// A subcommand's interface, used for parsing and for its --help text.
struct CommandSpec {
    var name: String
    var summary: String
    var usage: String
    var options: [OptionSpec]
    var details: String = ""

    /// The help, folded to 80 columns: options in two columns, the description's lines under
    /// its first.
    var helpText: String {
        let title = "medseg \(name) — "
        var s = title + TextWrap.lines(summary, first: title.count, indent: 2).joined(separator: "\n") + "\n\n"
        let lead = "Usage: medseg \(name) "
        // An option in brackets stays on one line: its spaces do not break until the fold is made.
        var depth = 0
        let glued = String(usage.map { c -> Character in
            if c == "[" { depth += 1 } else if c == "]" { depth -= 1 }
            return c == " " && depth > 0 ? "\u{A0}" : c
        })
        s += lead + TextWrap.lines(glued, first: lead.count, indent: lead.count).joined(separator: "\n")
            .replacingOccurrences(of: "\u{A0}", with: " ") + "\n"
        if !options.isEmpty {
            s += "\nOptions:\n"
            let rows = options.map { o -> (String, String) in
                var left = o.short.map { "\($0), " } ?? ""
                left += o.name + (o.value.map { " \($0)" } ?? "")
                return (left, o.help)
            } + [("-h, --help", "show this help")]
            let w = rows.map { $0.0.count }.max() ?? 0, column = 2 + w + 2
            for (l, r) in rows {
                s += "  " + l.padding(toLength: w + 2, withPad: " ", startingAt: 0)
                    + TextWrap.lines(r, first: column, indent: column).joined(separator: "\n") + "\n"
            }
        }
        if !details.isEmpty { s += "\n" + TextWrap.paragraphs(details) + "\n" }
        return s
    }
}

/// Parsed arguments of one command.
struct ParsedArgs {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []
    var helpRequested = false

    func value(_ name: String) -> String? { values[name]?.last }
    func has(_ name: String) -> Bool { flags.contains(name) || values[name] != nil }

    /// A positive integer option, or `default` when absent.
    func int(_ name: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let s = value(name) else { return d }
        guard let v = Int(s), range.contains(v) else {
            throw CLIError("\(name) takes a whole number from \(range.lowerBound) to \(range.upperBound), not '\(s)'")
        }
        return v
    }

    /// `--precision`: int8, bf16 (CPUs with bf16 dot products) or fp32; by default int8 on
    /// CPUs with VNNI, else fp32.
    func precision() throws -> Precision {
        guard let s = value("--precision") else { return .preferred }
        guard let p = Precision(rawValue: s) else { throw CLIError("--precision takes int8, bf16 or fp32, not '\(s)'") }
        if p == .bf16 && !CPUFeatures.bf16 {
            throw CLIError("--precision bf16 needs a CPU with bf16 dot products (AVX512-BF16), which this one lacks: use int8 or fp32")
        }
        return p
    }

    /// A finite non-negative number option, or `default` when absent.
    func double(_ name: String, default d: Double) throws -> Double {
        guard let s = value(name) else { return d }
        guard let v = Double(s), v.isFinite, v >= 0 else {
            throw CLIError("\(name) takes a number >= 0, not '\(s)'")
        }
        return v
    }
}

/// A usage or input error, shown as one line on stderr.
/// A one-line error of the command line (exit status 2), or with `status: 1` of the files it
/// names (missing, unwritable): the README's "2 for usage errors, 1 for bad input".
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var status: Int32
    init(_ d: String, status: Int32 = 2) { description = d; self.status = status }
}

extension CommandSpec {
    /// Parses `args` (the words after the subcommand name).
    func parse(_ args: [String]) throws -> ParsedArgs {
        var out = ParsedArgs()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let a = args[i]
            i += 1
            if onlyPositionals || !a.hasPrefix("-") || a == "-" {
                out.positionals.append(a)
                continue
            }
            if a == "--" { onlyPositionals = true; continue }
            if a == "-h" || a == "--help" { out.helpRequested = true; continue }
            var key = a, inline: String? = nil
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                key = String(a[..<eq])
                inline = String(a[a.index(after: eq)...])
            }
            guard let spec = options.first(where: { $0.name == key || $0.short == key }) else {
                var msg = "unknown option '\(key)' for 'medseg \(name)'"
                if let near = closest(key, among: options.map(\.name)) { msg += "; did you mean '\(near)'?" }
                throw CLIError(msg + " (see 'medseg \(name) --help')")
            }
            if spec.value == nil {
                if inline != nil { throw CLIError("\(spec.name) takes no value") }
                out.flags.insert(spec.name)
                continue
            }
            let v: String
            if let inline { v = inline } else {
                guard i < args.count else { throw CLIError("\(spec.name) needs a value (\(spec.value!))") }
                // `--json --csv`: the next option is not this one's value (a file named --csv).
                let next = args[i].split(separator: "=", maxSplits: 1).first.map(String.init) ?? args[i]
                if next == "-h" || next == "--help" || next == "--" || options.contains(where: { $0.name == next || $0.short == next }) {
                    throw CLIError("\(spec.name) needs a value (\(spec.value!)) before \(args[i])")
                }
                v = args[i]
                i += 1
            }
            guard !v.isEmpty else { throw CLIError("\(spec.name) needs a value (\(spec.value!)), not an empty one") }
            if !spec.repeatable, out.values[spec.name] != nil {
                throw CLIError("\(spec.name) is given more than once")
            }
            out.values[spec.name, default: []].append(v)
        }
        return out
    }
}

/// The candidate nearest to `word` by edit distance, if it is plausibly a typo of it.
func closest(_ word: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= max(2, best.count / 3) else { return nil }
    return best
}

func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    var prev = Array(0...y.count)
    for i in 1...x.count {
        var cur = [i] + [Int](repeating: 0, count: y.count)
        for j in 1...max(y.count, 1) where j <= y.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[y.count]
}
