// Subcommand dispatch, top-level help, and turning errors into one line on stderr.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Volumes

/// A subcommand: its interface and what it does with parsed arguments (returns the exit status).
struct Subcommand {
    var spec: CommandSpec
    var run: (ParsedArgs) throws -> Int32
}

enum MedsegCLI {
    static let version = "0.1.0"

    static var commands: [Subcommand] { [OpenCommand.command, InfoCommand.command, SegmentCommand.command, EvalCommand.command, BenchCommand.command, ConvertCommand.command] }

    static var topHelp: String {
        var s = """
        medseg \(version) — a terminal workbench for medical image segmentation (LiteMedSAM).

        Usage: medseg <command> [options]

        Commands:

        """
        let w = commands.map { $0.spec.name.count }.max() ?? 0
        for c in commands {
            s += "  " + c.spec.name.padding(toLength: w + 2, withPad: " ", startingAt: 0)
                + TextWrap.lines(c.spec.summary, first: w + 4, indent: w + 4).joined(separator: "\n") + "\n"
        }
        s += "\nRun 'medseg <command> --help' for a command's options.\n"
        return s
    }

    static func run(_ args: [String]) -> Int32 {
        guard let first = args.first, first != "-h", first != "--help", first != "help" else {
            if args.count >= 2, args[0] == "help", let c = commands.first(where: { $0.spec.name == args[1] }) {
                print(c.spec.helpText, terminator: "")
                return 0
            }
            // Asked for, the help goes to standard output; run without a command, it is a usage
            // error and goes to standard error.
            if args.isEmpty { Stderr.write(topHelp); return 2 }
            print(topHelp, terminator: "")
            return 0
        }
        if first == "--version" { print("medseg \(version)"); return 0 }
        guard let cmd = commands.first(where: { $0.spec.name == first }) else {
            var msg = first.hasPrefix("-") ? "unknown option '\(first)'; options come after the command" : "unknown command '\(first)'"
            if let near = closest(first, among: commands.map(\.spec.name)) { msg += "; did you mean '\(near)'?" }
            return fail(msg + " (see 'medseg --help')", code: 2)
        }
        do {
            let parsed = try cmd.spec.parse(Array(args.dropFirst()))
            if parsed.helpRequested { print(cmd.spec.helpText, terminator: ""); return 0 }
            return try cmd.run(parsed)
        } catch let e as CLIError {
            return fail(e.description, code: e.status)
        } catch {
            return fail("\(error)", code: 1)
        }
    }

    /// Prints `medseg: error: message` on stderr and returns `code`.
    static func fail(_ message: String, code: Int32) -> Int32 {
        Stderr.write("medseg: error: \(message)\n")
        return code
    }
}

/// Unbuffered writes to standard error (warnings, progress, errors).
enum Stderr {
    static func write(_ s: String) { fputs(s, stderr) }
    static func warn(_ s: String) { fputs("medseg: warning: \(s)\n", stderr) }
    /// True when stderr is a terminal (progress lines that redraw themselves go only there).
    static var isTerminal: Bool { isatty(2) != 0 }
}
