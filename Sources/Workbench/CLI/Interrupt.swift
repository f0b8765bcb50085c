// Ctrl-C (or a kill) in a long headless command: the temporary files being written are removed
// and a line says how far the work got, instead of a silent exit.
import Foundation
import Volumes

enum Interrupt {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// From now on SIGINT and SIGTERM remove the temporary files being written, run `cleanup`,
    /// print "interrupted: " + `progress()` on stderr and exit with 128 + the signal's number.
    static func install(_ progress: @escaping @Sendable () -> String) { install(progress: progress, cleanup: {}) }

    static func install(progress: @escaping @Sendable () -> String, cleanup: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                AtomicFile.removePending()
                cleanup()
                Stderr.write((Stderr.isTerminal ? "\r\u{1B}[K" : "") + "medseg: interrupted: \(progress())\n")
                _exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// A count shared with a signal handler's thread.
final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private var written = 0, current: String?
    func starting(_ name: String) { lock.lock(); current = name; lock.unlock() }
    func wrote() { lock.lock(); written += 1; lock.unlock() }
    func finished() { lock.lock(); current = nil; lock.unlock() }
    var state: (written: Int, current: String?) { lock.lock(); defer { lock.unlock() }; return (written, current) }
}
