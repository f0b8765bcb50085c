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

    /// The voxel shown at plane point p when the view's slice passes through `c`.
    func voxel(_ p: PlanePoint, through c: Voxel, depth d: Int) -> Voxel {
        switch self {
        case .axial: return Voxel(x: p.u, y: p.v, z: c.z)
        case .coronal: return Voxel(x: p.u, y: c.y, z: d - 1 - p.v)
        case .sagittal: return Voxel(x: c.x, y: p.u, z: d - 1 - p.v)
        }
    }

    /// Where voxel c appears in this view's plane.
    func planePoint(_ c: Voxel, depth d: Int) -> PlanePoint {
        switch self {
        case .axial: return PlanePoint(u: c.x, v: c.y)
        case .coronal: return PlanePoint(u: c.x, v: d - 1 - c.z)
        case .sagittal: return PlanePoint(u: c.y, v: d - 1 - c.z)
        }
    }

    /// The volume axes (0: x, 1: y, 2: z) and directions (+1, -1) that the plane's +u and +v run along.
    var planeAxes: (u: (axis: Int, sign: Int), v: (axis: Int, sign: Int)) {
        switch self {
        case .axial: return ((0, 1), (1, 1))
        case .coronal: return ((0, 1), (2, -1))
        case .sagittal: return ((1, 1), (2, -1))
        }
    }

    /// The anatomical letters at the view's left, right, top and bottom edges, from a NIfTI
    /// affine (RAS+ world: columns 0, 1, 2 are the directions of x, y, z): the side each plane
    /// direction points to most. nil without an affine (npz and PNG carry no orientation).
    func edgeLetters(affine: [[Double]]?) -> (left: Character, right: Character, top: Character, bottom: Character)? {
        guard let a = affine, a.count >= 3, a.allSatisfy({ $0.count >= 3 }) else { return nil }
        func letter(_ axis: Int, _ sign: Int) -> Character? {
            let d = (0..<3).map { a[$0][axis] * Double(sign) }
            let order = (0..<3).sorted { abs(d[$0]) > abs(d[$1]) }, c = order[0]
            // No letter for a direction halfway between two sides (a 45-degree oblique).
            guard d[c] != 0, d[c].isFinite, abs(d[order[1]]) < 0.99 * abs(d[c]) else { return nil }
            let names: [(Character, Character)] = [("R", "L"), ("A", "P"), ("S", "I")]
            return d[c] > 0 ? names[c].0 : names[c].1
        }
        let (u, v) = planeAxes
        guard let l = letter(u.axis, -u.sign), let r = letter(u.axis, u.sign),
              let t = letter(v.axis, -v.sign), let b = letter(v.axis, v.sign) else { return nil }
        return (l, r, t, b)
    }

    /// Linear index into [D, H, W] of plane point p of the slice through c.
    func index(_ p: PlanePoint, through c: Voxel, depth d: Int, height h: Int, width w: Int) -> Int {
        let v = voxel(p, through: c, depth: d)
        return (v.z * h + v.y) * w + v.x
    }
}
