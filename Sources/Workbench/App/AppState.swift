// The workbench's whole UI state: one value, changed only by `reduce` (Reducer.swift).
import Volumes

/// What keys currently mean.
enum Mode: Equatable, Sendable {
    case normal
    /// Box mode: the first corner is fixed when `corner` is set.
    case box(corner: Voxel?)
    case command(String)
    case help
    case confirmQuit
    case confirmRestore
    /// `w` would replace a file this session did not write: asks first.
    case confirmOverwrite(String)
    /// `:load` found more labels than a segmentation usually holds (`pendingLoad`): asks first.
    case confirmLoad

    /// A y/n question whose text (`AppState.prompt`) holds the status line until answered.
    var asks: Bool {
        switch self { case .confirmQuit, .confirmOverwrite, .confirmLoad: true; default: false }
    }
}

enum MaskStyle: String, Sendable { case fill, contour }

/// A label's scores against the ground truth.
struct LabelScoreRow: Equatable, Sendable {
    var label: Int, dsc: Double, nsd: Double
}

struct Scores: Equatable, Sendable {
    var rows: [LabelScoreRow]          // predicted labels that exist in the ground truth
    var meanDSC: Double, meanNSD: Double
    var gtLabels: Int                  // labels in the ground truth
    var notPredicted: [Int]            // gt labels without an object yet
}

struct AppState: Sendable {
    // The image (fixed for a session).
    let depth: Int, height: Int, width: Int
    let spacing: [Double]              // [dz, dy, dx] (3D) or [dy, dx]
    let is3D: Bool
    let hasGroundTruth: Bool
    /// The percentile window of this image (preset "auto").
    let autoWindow: Window
    /// What `:load` read while it asks whether to load that many labels (`Mode.confirmLoad`).
    var pendingLoad: (objects: [SegObject], path: String)?
    /// The question of a y/n mode (`Mode.asks`), as it was asked.
    var prompt = ""
    /// The file whose labels `:load` just added as objects (taken by the app, then cleared).
    var loadedFrom: String?
    /// Box prompts stored in the file, as objects labelled 1, 2, ... (loaded with `B`).
    var fileBoxes: [SegObject] = []
    var fileBoxesOutside = 0                    // the file's boxes that miss the image (left out)

    // Viewing.
    var axis: ViewAxis = .axial
    /// How the views are turned on screen (`:orient`); `standardOrientation` is the image's
    /// standard one (stored order where the image has no known orientation).
    var orientation = DisplayOrientation.stored
    var standardOrientation = DisplayOrientation.stored
    /// Whether the image says which way the patient lies (a NIfTI with a qform or sform code).
    var orientationKnown = false
    /// Known, but an axis lies halfway between two sides of the patient (a 45-degree oblique).
    var orientationOblique = false
    var cursor: Voxel
    var zoom: Double = 1
    var pan: (u: Double, v: Double)? = nil     // plane point at the view centre; nil = centred
    var window: Window
    var windowName: String
    /// Whether the image holds Hounsfield units (a CT NIfTI), so the CT presets mean something.
    var holdsHU = true
    var showMask = true
    var maskStyle: MaskStyle = .fill
    var showGroundTruth = false
    var screen: (cols: Int, rows: Int) = (80, 24)

    // Objects and their masks.
    var objects: [SegObject] = []
    var selected: Int? = nil                    // index into objects
    var nextID = 1
    var undoStack: [[SegObject]] = []
    var redoStack: [[SegObject]] = []
    /// Whether the masks now arriving already have their undo step: the results of one `s` are
    /// one step, unless another change was recorded in between.
    var segmentationRecorded = false
    var dirty = false                           // changes not saved
    /// Object lists with nothing unsaved: what the last save wrote (none before any), and a
    /// saved file's labels loaded into an empty list (beside the empty list it replaced). Undo
    /// or redo back to one of them is not an unsaved change.
    var cleanStates: [[SegObject]] = [[]]
    var recoveryOff = false                     // another medseg has this image open: no recovery file
    var generation = 0                          // bumps with every object change

    // Interaction.
    var mode: Mode = .normal
    /// Box mode left for the command line (`:goto X Y` to place a corner): taken up again after it.
    var boxToResume: Mode? = nil
    var status = ""
    var busy: String? = nil                     // running work shown in the status bar
    /// Objects sent to be segmented and not back yet: id -> the box as sent. A result for a box
    /// since moved to other slices (or undone, or deleted) is not the object's mask.
    var segmenting: [Int: BoxPlace] = [:]
    /// The masks of the segmentations running since none was: how many came back and the
    /// seconds they took, for a total when the last one is in.
    var batch = (done: 0, seconds: 0.0)
    var scores: Scores? = nil
    var embeddedSlices = 0
    var dragStart: Voxel? = nil
    /// Command lines entered, oldest first (Up and Down recall them), and the one recalled.
    var commandHistory: [String] = []
    var historyIndex: Int? = nil
    /// The line being typed when Up first recalled history; Down past the latest brings it back.
    var historyDraft = ""
    /// Recalled lines edited and left with Up or Down: index -> the edited text (cleared when a line is entered).
    var historyEdits: [Int: String] = [:]
    /// What Tab could complete the line to, when the choices do not agree (shown after the line).
    var completionChoices: [String]? = nil
    /// What the opening found worth keeping in view (voxels taken as 1 mm, a recovery file set
    /// aside, recovery off): it stays in front of the model's ready message.
    var openNote: String? = nil
    /// What the recovery file found at the opening holds ("6 objects, today 14:02").
    var restoreSummary: String? = nil
    /// Why the image's voxel sizes were taken as 1 mm (no usable spacing in the file), if they were.
    var spacingNote: String? = nil
    /// The command line's cursor, in characters from the end of the line (LineEditor).
    var commandCursor = 0
    var quit = false

    init(depth: Int, height: Int, width: Int, spacing: [Double], is3D: Bool, hasGroundTruth: Bool, window: Window, windowName: String,
         autoWindow: Window) {
        (self.depth, self.height, self.width, self.spacing, self.is3D, self.hasGroundTruth) = (depth, height, width, spacing, is3D, hasGroundTruth)
        self.autoWindow = autoWindow
        cursor = Voxel(x: width / 2, y: height / 2, z: depth / 2)
        self.window = window
        self.windowName = windowName
        showGroundTruth = false
    }

    var sliceCount: Int { axis.sliceCount(depth: depth, height: height, width: width) }
    var sliceIndex: Int { axis.sliceIndex(of: cursor) }
    var plane: (width: Int, height: Int) { axis.planeSize(depth: depth, height: height, width: width) }
    /// The current view as drawn.
    var frame: ViewFrame { ViewFrame(axis: axis, depth: depth, height: height, width: width, flip: orientation[axis]) }
    var cursorPoint: PlanePoint { frame.planePoint(cursor) }

    /// Smallest label number not used by any object.
    var freeLabel: Int {
        let used = Set(objects.map(\.label))
        return (1...).first { !used.contains($0) }!
    }
}
