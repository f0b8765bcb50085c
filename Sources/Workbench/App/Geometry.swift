// Coordinate spaces of the workbench and the one place they convert: a voxel (x, y, z) of the
// volume [D, H, W] (z = slice index along the first axis), and a point (u, v) of the plane a
// view shows (u to the right, v down). Terminal cells are Render's business (ViewGeometry).

/// A voxel index: x along W, y along H, z along D (0 for 2D images).
struct Voxel: Equatable, Sendable {
    var x: Int, y: Int, z: Int
}

/// A pixel of the plane a view shows.
struct PlanePoint: Equatable, Sendable {
    var u: Int, v: Int
}

/// Which plane a view shows. Axial: z fixed, u = x, v = y (the slices the model segments).
/// Coronal: y fixed, u = x, v = D-1-z (head up). Sagittal: x fixed, u = y, v = D-1-z.
enum ViewAxis: String, CaseIterable, Sendable {
    case axial, coronal, sagittal

    /// Plane width and height for a volume [D, H, W].
    func planeSize(depth d: Int, height h: Int, width w: Int) -> (width: Int, height: Int) {
        switch self {
        case .axial: return (w, h)
        case .coronal: return (w, d)
        case .sagittal: return (h, d)
        }
    }

    /// Pixel size (mm) along u and v, from spacing [dz, dy, dx].
    func planeSpacing(_ s: [Double]) -> (u: Double, v: Double) {
        let (dz, dy, dx) = s.count == 3 ? (s[0], s[1], s[2]) : (1, s.first ?? 1, s.last ?? 1)
        switch self {
        case .axial: return (dx, dy)
        case .coronal: return (dx, dz)
        case .sagittal: return (dy, dz)
        }
    }

    /// The slice index this view shows for a cursor at `c`, and how many slices there are.
    func sliceIndex(of c: Voxel) -> Int {
        switch self { case .axial: return c.z; case .coronal: return c.y; case .sagittal: return c.x }
    }

    func sliceCount(depth d: Int, height h: Int, width w: Int) -> Int {
        switch self { case .axial: return d; case .coronal: return h; case .sagittal: return w }
    }

    /// The voxel shown at plane point p when the view's slice passes through `c` (as stored).
    func voxel(_ p: PlanePoint, through c: Voxel, depth d: Int) -> Voxel {
        switch self {
        case .axial: return Voxel(x: p.u, y: p.v, z: c.z)
        case .coronal: return Voxel(x: p.u, y: c.y, z: d - 1 - p.v)
        case .sagittal: return Voxel(x: c.x, y: p.u, z: d - 1 - p.v)
        }
    }

    /// Where voxel c appears in this view's plane (as stored).
    func planePoint(_ c: Voxel, depth d: Int) -> PlanePoint {
        switch self {
        case .axial: return PlanePoint(u: c.x, v: c.y)
        case .coronal: return PlanePoint(u: c.x, v: d - 1 - c.z)
        case .sagittal: return PlanePoint(u: c.y, v: d - 1 - c.z)
        }
    }

    /// The volume axes (0: x, 1: y, 2: z) and directions (+1, -1) that the plane's +u and +v run along (as stored).
    var planeAxes: (u: (axis: Int, sign: Int), v: (axis: Int, sign: Int)) {
        switch self {
        case .axial: return ((0, 1), (1, 1))
        case .coronal: return ((0, 1), (2, -1))
        case .sagittal: return ((1, 1), (2, -1))
        }
    }
}

/// A view's plane mirrored for display: u (left-right) and/or v (top-bottom).
struct PlaneFlip: Equatable, Sendable {
    var u = false, v = false
    static let none = PlaneFlip()
}

/// How each view is turned on screen. Stored order by default; for a NIfTI with a known
/// orientation (qform or sform code), the standard one: every view shows the patient's right,
/// anterior or superior side at its left and at its top (the radiological convention: axial
/// with anterior up and the patient's right on the viewer's left; coronal head up; sagittal
/// head up, anterior left). Only mirror images within each plane: the slices the model
/// segments stay the array's own.
struct DisplayOrientation: Equatable, Sendable {
    var axial = PlaneFlip.none, coronal = PlaneFlip.none, sagittal = PlaneFlip.none

    static let stored = DisplayOrientation()

    /// Whether some axis of the volume points halfway between two sides of the patient (no
    /// dominant one), so that no view can be turned by it.
    static func isOblique(affine: [[Double]]?) -> Bool {
        guard let a = ViewAxis.usable(affine) else { return false }
        return (0..<3).contains { ViewAxis.side(affine: a, axis: $0, sign: 1) == nil }
    }

    subscript(_ axis: ViewAxis) -> PlaneFlip {
        switch axis { case .axial: axial; case .coronal: coronal; case .sagittal: sagittal }
    }

    /// The standard orientation for a NIfTI affine (RAS+ world, columns 0, 1, 2 the directions of
    /// x, y, z); a plane direction with no dominant anatomical side (a 45-degree oblique) keeps
    /// its stored direction.
    static func standard(affine: [[Double]]?) -> DisplayOrientation {
        guard let a = ViewAxis.usable(affine) else { return .stored }
        func flip(_ axis: ViewAxis) -> PlaneFlip {
            let (u, v) = axis.planeAxes
            // Mirror a direction whose +end points to the patient's R, A or S side: that side
            // then sits at the start (left or top) of the screen.
            func toward(_ d: (axis: Int, sign: Int)) -> Bool {
                guard let side = ViewAxis.side(affine: a, axis: d.axis, sign: d.sign) else { return false }
                return side.positive
            }
            return PlaneFlip(u: toward(u), v: toward(v))
        }
        return DisplayOrientation(axial: flip(.axial), coronal: flip(.coronal), sagittal: flip(.sagittal))
    }
}

extension ViewAxis {
    /// The affine when it has the 3x3 part the orientation is read from (nil otherwise).
    static func usable(_ affine: [[Double]]?) -> [[Double]]? {
        guard let a = affine, a.count >= 3, a.allSatisfy({ $0.count >= 3 }) else { return nil }
        return a
    }

    /// The anatomical side a volume direction (axis 0: x, 1: y, 2: z, with a sign) points to
    /// most, from a NIfTI affine: its letter (R, A, S, or L, P, I) and whether it is one of R, A,
    /// S (+ in RAS). nil for a direction halfway between two sides (a 45-degree oblique).
    static func side(affine a: [[Double]], axis: Int, sign: Int) -> (letter: Character, positive: Bool)? {
        let d = (0..<3).map { a[$0][axis] * Double(sign) }
        let order = (0..<3).sorted { abs(d[$0]) > abs(d[$1]) }, c = order[0]
        guard d[c] != 0, d[c].isFinite, abs(d[order[1]]) < 0.99 * abs(d[c]) else { return nil }
        let names: [(Character, Character)] = [("R", "L"), ("A", "P"), ("S", "I")]
        return d[c] > 0 ? (names[c].0, true) : (names[c].1, false)
    }
}

/// One view as drawn: its plane, the volume's size and the plane's flips. All conversions
/// between voxels and the points of the plane on screen go through here.
struct ViewFrame: Equatable, Sendable {
    let axis: ViewAxis
    let depth: Int, height: Int, width: Int
    var flip = PlaneFlip.none

    var plane: (width: Int, height: Int) { axis.planeSize(depth: depth, height: height, width: width) }

    /// A point of the plane as stored <-> as shown (mirroring is its own inverse).
    private func mirrored(_ p: PlanePoint) -> PlanePoint {
        let (pw, ph) = plane
        return PlanePoint(u: flip.u ? pw - 1 - p.u : p.u, v: flip.v ? ph - 1 - p.v : p.v)
    }

    /// The voxel shown at point p of the view when its slice passes through `c`.
    func voxel(_ p: PlanePoint, through c: Voxel) -> Voxel { axis.voxel(mirrored(p), through: c, depth: depth) }

    /// Where voxel c appears in the view.
    func planePoint(_ c: Voxel) -> PlanePoint { mirrored(axis.planePoint(c, depth: depth)) }

    /// Linear index into [D, H, W] of the voxel at point p of the slice through c.
    func index(_ p: PlanePoint, through c: Voxel) -> Int {
        let v = voxel(p, through: c)
        return (v.z * height + v.y) * width + v.x
    }

    /// The volume axes and directions that the view's +u (rightwards) and +v (downwards) run along.
    var planeAxes: (u: (axis: Int, sign: Int), v: (axis: Int, sign: Int)) {
        let (u, v) = axis.planeAxes
        return ((u.axis, flip.u ? -u.sign : u.sign), (v.axis, flip.v ? -v.sign : v.sign))
    }

    /// The anatomical letters at the view's left, right, top and bottom edges, from a NIfTI
    /// affine: the side each direction of the view points to most. nil without an affine (npz
    /// and PNG carry no orientation) or where a direction has no dominant side.
    func edgeLetters(affine: [[Double]]?) -> (left: Character, right: Character, top: Character, bottom: Character)? {
        guard let a = ViewAxis.usable(affine) else { return nil }
        func letter(_ axis: Int, _ sign: Int) -> Character? { ViewAxis.side(affine: a, axis: axis, sign: sign)?.letter }
        let (u, v) = planeAxes
        guard let l = letter(u.axis, -u.sign), let r = letter(u.axis, u.sign),
              let t = letter(v.axis, -v.sign), let b = letter(v.axis, v.sign) else { return nil }
        return (l, r, t, b)
    }
}
