// Everything that can happen to the workbench (keys, mouse, results of background work), and
// the work the reducer asks for in return.

/// A key, decoded by the terminal layer.
enum Key: Equatable, Sendable {
    case char(Character)
    case up, down, left, right
    case shiftUp, shiftDown, shiftLeft, shiftRight
    case pageUp, pageDown, home, end
    case enter, escape, backspace, delete, tab, backTab
    case ctrl(Character)
}

enum MouseKind: Equatable, Sendable { case press, drag, release, wheelUp, wheelDown }

enum Action: Sendable {
    case key(Key)
    case mouse(MouseKind, col: Int, row: Int)
    case resize(cols: Int, rows: Int)
    /// A command line, as typed after `:` (also used by tests).
    case command(String)
    case progress(String?)
    // The engine's answers name the object as it was sent to be segmented.
    /// How far the segmentation of an object has come.
    case segmentProgress(SegObject, text: String)
    case segmented(SegObject, mask: ObjectMask?, seconds: Double, slices: Int)
    case segmentFailed(SegObject, message: String)
    /// The segmentation stopped before its end (the object was undone, deleted or moved).
    case segmentStopped(SegObject)
    case embedded(total: Int)
    case scored(Scores, generation: Int)
    /// A save finished; `generation` is the object generation it wrote.
    case saved(path: String, seconds: Double, generation: Int)
    case saveFailed(String)
    /// The save target exists and this session did not write it.
    case overwriteAsked(path: String)
    case restored([SegObject])
    /// A saved segmentation's labels, read by `:load`, as objects.
    case loaded([SegObject], path: String)
    case message(String)
    /// The model is ready (or could not be loaded): said with the opening note, if any.
    /// `hint`: the message leaves room for what to do next (the model is ready, nothing more to say).
    case modelLoaded(String, hint: Bool)
}

enum Effect: Sendable {
    case segment([SegObject])
    /// Drop the queued segmentations of these objects (gone or moved by an undo, a delete or a
    /// new slice range) and stop the running one if it is among them.
    case cancelSegmentation(Set<Int>)
    case prefetch(z: Int)
    case score(objects: [SegObject], generation: Int)
    /// `force`: replace the file even if this session did not write it (the user said yes).
    case save(path: String?, objects: [SegObject], generation: Int, force: Bool = false)
    case autosave(objects: [SegObject])
    case restore
    case discardRecovery
    /// Read a saved segmentation (nil: where `w` saves) into objects.
    case load(path: String?)
}
