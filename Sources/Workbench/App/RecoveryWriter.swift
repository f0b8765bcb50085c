// Autosaves and removals of the recovery file, in the order they are asked for, on the queue
// that also saves: of several autosaves waiting, only the newest is written.
import Foundation

final class RecoveryWriter: @unchecked Sendable {
    private let queue: DispatchQueue
    private let lock = NSLock()
    /// The newest objects to autosave, whether a write of them waits on the queue, and how
    /// many removals were asked for (a write queued before one writes nothing).
    private var pending: [SegObject]?, queued = false, removals = 0
    private let write: @Sendable ([SegObject]) -> Void
    private let discard: @Sendable () -> Void

    init(queue: DispatchQueue, write: @escaping @Sendable ([SegObject]) -> Void, discard: @escaping @Sendable () -> Void) {
        (self.queue, self.write, self.discard) = (queue, write, discard)
    }

    /// Writes `objects` after what is queued now; an autosave already waiting writes these
    /// instead of its own.
    func autosave(_ objects: [SegObject]) {
        lock.lock()
        pending = objects
        let enqueue = !queued, asked = removals
        queued = true
        lock.unlock()
        guard enqueue else { return }
        queue.async { [self] in
            lock.lock()
            // A removal asked for since: the objects waiting are a later write's, after it.
            guard removals == asked else { lock.unlock(); return }
            let latest = pending
            (pending, queued) = (nil, false)
            lock.unlock()
            if let latest { write(latest) }
        }
    }

    /// Removes the recovery file after what is queued now. An autosave waiting is dropped: it
    /// would otherwise write a later state before the removal (undo to the saved state, then
    /// redo, left unsaved work with no recovery file), and the next autosave comes after it.
    func discardRecovery() {
        lock.lock(); (pending, queued) = (nil, false); removals += 1; lock.unlock()
        queue.async { [self] in discard() }
    }
}
