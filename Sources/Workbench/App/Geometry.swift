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

    /// Linear index into [D, H, W] of plane point p of the slice through c.
    func index(_ p: PlanePoint, through c: Voxel, depth d: Int, height h: Int, width w: Int) -> Int {
        let v = voxel(p, through: c, depth: d)
        return (v.z * h + v.y) * w + v.x
    }
}
