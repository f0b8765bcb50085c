// Saving masks (npz `segs`, NIfTI with the source geometry, PNG) and the recovery file that
// keeps unsaved work safe. All writes are atomic (Volumes writes a temp file, then renames).
import Foundation
import Volumes

enum Persistence {
    /// Why masks of this session cannot be saved at `path` (checked before asking to replace it).
    static func unusableTarget(_ path: String, session: Session) -> String? {
        let lower = path.lowercased()
        switch AtomicFile.target(path) {
        case .directory: return "\(path) is a directory"
        // A pipe or a device would block the queue that autosaves use until something read it.
        case .special: return "\(path) is not a regular file (a pipe or a device)"
        case .none, .regular: break
        }
        guard [".nii", ".nii.gz", ".png", ".npz"].contains(where: { lower.hasSuffix($0) }) else {
            return "\(path): unknown extension; save as .npz, .nii.gz, .nii or .png"
        }
        if lower.hasSuffix(".png") && session.volume.is3D { return "\(path): a 3D mask cannot be a PNG; use .npz or .nii.gz" }
        // The folder the file goes into: a symlink's target's (a link to a missing folder said
        // only "Failure to create temporary file").
        let dir = PathText.parent((try? AtomicFile.destination(path)) ?? path)
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) { return "\(path): directory \(dir) does not exist" }
        return nil
    }

    /// Writes the objects' composite label map; the format follows the path's extension.
    static func save(_ objects: [SegObject], session: Session, to path: String) throws {
        let v = session.volume
        let labels = composite(objects, depth: session.depth, height: session.height, width: session.width)
        let shape = v.spatialShape
        let wide = objects.contains { $0.label > 255 }
        let array = wide ? NDArray(shape: shape, values: labels) : NDArray(shape: shape, values: labels.map { UInt8(truncatingIfNeeded: $0) })
        let lower = path.lowercased()
        if let why = unusableTarget(path, session: session) { throw VolumeError(why) }
        // unusableTarget has refused other extensions and a 3D PNG.
        if lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") {
            try Nifti.write(array, to: path, geometry: session.image.niftiGeometry, spacing: v.spacing)
        } else if lower.hasSuffix(".png") {
            try PNGFile.write(array, to: path)
        } else {
            var arrays = [(name: "segs", array: array)]
            if v.is3D { arrays.append((name: "spacing", array: NDArray(shape: [3], values: v.spacing))) }
            try Npz.write(arrays, to: path)
        }
    }

    /// The labels of a saved segmentation (npz `segs`, NIfTI, PNG) as objects: one per label,
    /// its mask the label's voxels, its box and slices their bounding box, segmented as they
    /// are (ids 1, 2, ...: the workbench gives them its own). The file must have the image's shape.
    static func load(_ path: String, session: Session) throws -> [SegObject] {
        if OutputPaths.sameFile(path, session.path) { throw VolumeError("is the open image, not a segmentation of it", path: path) }
        let map = try LabelFile.read(path: path, keys: ["segs", "gts"])
        guard map.shape == session.volume.spatialShape else {
            throw VolumeError("has shape \(map.shape) but the image is \(session.volume.spatialShape)", path: path)
        }
        // As for --gt: a NIfTI label map stored another way round (or elsewhere) is refused,
        // not loaded mirrored.
        let known = session.image.niftiGeometry?.orientationKnown ?? false
        if let why = LabelMap.gridMismatch(known ? session.volume.affine : nil, map.affine) {
            throw VolumeError("does not lie on the image's grid: \(why)", path: path)
        }
        let (d, h, w) = (session.depth, session.height, session.width)
        // One pass for every label's bounding block, then each label's bits within its block.
        var lo: [UInt16: (Int, Int, Int)] = [:], hi: [UInt16: (Int, Int, Int)] = [:]
        map.labels.withUnsafeBufferPointer { p in
            var i = 0
            for z in 0..<d { for y in 0..<h { for x in 0..<w {
                let l = p[i]; i += 1
                guard l != 0 else { continue }
                if let a = lo[l], let b = hi[l] {
                    lo[l] = (min(a.0, z), min(a.1, y), min(a.2, x)); hi[l] = (max(b.0, z), max(b.1, y), max(b.2, x))
                } else { lo[l] = (z, y, x); hi[l] = (z, y, x) }
            } } }
        }
        return lo.keys.sorted().enumerated().map { n, l in
            let (a, b) = (lo[l]!, hi[l]!)
            let (md, mh, mw) = (b.0 - a.0 + 1, b.1 - a.1 + 1, b.2 - a.2 + 1)
            var bits = [UInt8](repeating: 0, count: md * mh * mw)
            for z in 0..<md { for y in 0..<mh {
                let src = ((z + a.0) * h + y + a.1) * w + a.2
                for x in 0..<mw where map.labels[src + x] == l { bits[(z * mh + y) * mw + x] = 1 }
            } }
            let mask = ObjectMask(z0: a.0, y0: a.1, x0: a.2, d: md, h: mh, w: mw, bits: bits)
            return SegObject(id: n + 1, label: Int(l), x0: a.2, y0: a.1, x1: b.2, y1: b.1, z0: a.0, z1: b.0, mask: mask, stale: false)
        }
    }

    /// The recovery file for an input: $MEDSEG_HOME/recovery/<name>-<hash of the absolute path>.npz.
    /// The path is the file's real one (symlinks resolved): the same image opened through a
    /// linked folder finds its recovery, and another session's lock on it.
    static func recoveryPath(for input: String) -> String {
        let typed = URL(fileURLWithPath: input).standardizedFileURL.path
        let abs = realpath(typed, nil).map { p in defer { free(p) }; return String(cString: p) } ?? typed
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in abs.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let name = (abs as NSString).lastPathComponent.filter { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" }
        return DataHome.path + "/recovery/\(name)-\(String(hash, radix: 16)).npz"
    }

    /// Claims the recovery file of this session's image for this process (an advisory lock on a
    /// file beside it, held until the process ends). False when another medseg holds it: that
    /// session's recovery file is live and is neither offered nor written here. Lock files that
    /// killed sessions left behind, with no recovery file and no holder, are cleared on the way.
    static func claimRecovery(for session: Session) -> Bool {
        let path = recoveryPath(for: session.path) + ".lock"
        let dir = PathText.parent(path)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        clearLeftLocks(in: dir, except: path)
        for _ in 0..<3 {
            let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return true }   // no lock possible (read-only home): carry on as before
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); return false }
            // Another session may have cleared this file between open and flock: the lock holds
            // only if the path still names the file locked. The descriptor stays open: the lock lasts.
            if sameFile(fd, path) { return true }
            close(fd)
        }
        return true
    }

    private static func sameFile(_ fd: Int32, _ path: String) -> Bool {
        var held = stat(), named = stat()
        return fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_ino == named.st_ino && held.st_dev == named.st_dev
    }

    /// Removes lock files nobody holds whose recovery file is gone (a session killed before its
    /// clean exit leaves one), and the half-written autosaves (`.NAME.tmp-PID-N.npz`) of
    /// processes that are gone (a session killed while it autosaved).
    static func clearLeftLocks(in dir: String, except keep: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.contains(".npz.tmp-") && AtomicFile.isAbandoned(name) { unlink(dir + "/" + name) }
        for name in names where name.hasSuffix(".npz.lock") {
            let lock = dir + "/" + name
            guard lock != keep, !FileManager.default.fileExists(atPath: String(lock.dropLast(5))) else { continue }
            let fd = open(lock, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0, sameFile(fd, lock) { unlink(lock) }
            close(fd)
        }
    }

    /// At a clean exit: the lock file of a recovery this process claimed goes (the lock ends
    /// with the process anyway; this keeps the folder from filling with them).
    static func releaseRecovery(for session: Session) {
        unlink(recoveryPath(for: session.path) + ".lock")
    }

    /// Stores each object as it is: its box, label, range, state and its own mask block (not the
    /// composite, where a later object hides an earlier one's voxels it overlaps).
    /// Arrays: `shape` [depth, height, width]; `image` the image's fingerprint; `objects` [n, 16] int32 (id, label, x0, y0, x1, y1,
    /// z0, z1, stale, has mask, then the mask block's z0, y0, x0, d, h, w); `masks` the blocks' bytes
    /// one after another; `exact` [n, 4] float64, a file box's own corners (`SegObject.exact`),
    /// NaN for the others (files without it restore without them).
    static func autosave(_ objects: [SegObject], session: Session) throws {
        let path = recoveryPath(for: session.path)
        try FileManager.default.createDirectory(atPath: PathText.parent(path), withIntermediateDirectories: true)
        var table = [Int32](), bytes = [UInt8](), exact = [Double]()
        for o in objects {
            exact += o.exact ?? [Double](repeating: .nan, count: 4)
            let m = o.mask
            table += [o.id, o.label, o.x0, o.y0, o.x1, o.y1, o.z0, o.z1, o.stale ? 1 : 0, m == nil ? 0 : 1,
                      m?.z0 ?? 0, m?.y0 ?? 0, m?.x0 ?? 0, m?.d ?? 0, m?.h ?? 0, m?.w ?? 0].map { Int32(clamping: $0) }
            if let m { bytes += m.bits }
        }
        try Npz.write([(name: "shape", array: NDArray(shape: [3], values: [Int64(session.depth), Int64(session.height), Int64(session.width)])),
                       (name: "image", array: NDArray(shape: [1], values: [session.fingerprint])),
                       (name: "objects", array: NDArray(shape: [objects.count, 16], values: table)),
                       (name: "masks", array: NDArray(shape: [bytes.count], values: bytes)),
                       (name: "exact", array: NDArray(shape: [objects.count, 4], values: exact))], to: path)
    }

    /// The objects of the recovery file, exactly as they were autosaved.
    static func restore(session: Session) throws -> [SegObject] {
        let path = recoveryPath(for: session.path)
        let arrays = try Npz.read(path: path)
        func named(_ name: String) -> NDArray? { arrays.first(where: { $0.name == name })?.array }
        if named("segs") != nil { return try restoreComposite(arrays, session: session, path: path) }
        let damaged = VolumeError("recovery file is damaged", path: path)
        guard let shape = named("shape")?.values(as: Int64.self), shape.count == 3,
              let table = named("objects"), table.shape.count == 2, table.shape[1] == 16,
              let rows = table.values(as: Int32.self), let bytes = named("masks")?.values(as: UInt8.self) else { throw damaged }
        let (d, h, w) = (session.depth, session.height, session.width)
        guard shape == [Int64(d), Int64(h), Int64(w)] else { throw VolumeError("recovery file is for an image of another size", path: path) }
        // One object per id, and mask bytes that are 0 or 1, or the file is not one we wrote.
        let ids = (0..<table.shape[0]).map { rows[$0 * 16] }
        guard Set(ids).count == ids.count, !bytes.contains(where: { $0 > 1 }) else { throw damaged }
        // A file box's own corners: all four inside the image, or none (NaN).
        var exact = [[Double]?](repeating: nil, count: table.shape[0])
        if let e = named("exact") {
            guard e.shape == [table.shape[0], 4], let v = e.values(as: Double.self) else { throw damaged }
            for i in exact.indices {
                let c = Array(v[(i * 4)..<(i * 4 + 4)])
                if c.allSatisfy(\.isNaN) { continue }
                guard c[0] >= 0, c[1] >= 0, c[2] <= Double(w), c[3] <= Double(h), c[0] <= c[2], c[1] <= c[3] else { throw damaged }
                exact[i] = c
            }
        }
        var offset = 0
        return try (0..<table.shape[0]).map { i in
            let r = rows[(i * 16)..<(i * 16 + 16)].map(Int.init)
            var mask: ObjectMask?
            if r[9] != 0 {
                let (mz, my, mx, md, mh, mw) = (r[10], r[11], r[12], r[13], r[14], r[15])
                guard md > 0, mh > 0, mw > 0, mz >= 0, my >= 0, mx >= 0, mz + md <= d, my + mh <= h, mx + mw <= w,
                      offset + md * mh * mw <= bytes.count else { throw damaged }
                mask = ObjectMask(z0: mz, y0: my, x0: mx, d: md, h: mh, w: mw, bits: Array(bytes[offset..<(offset + md * mh * mw)]))
                offset += md * mh * mw
            }
            guard placeFits(r, session: session) else { throw damaged }
            return SegObject(id: r[0], label: r[1], x0: r[2], y0: r[3], x1: r[4], y1: r[5], z0: r[6], z1: r[7], mask: mask, stale: r[8] != 0,
                             exact: exact[i])
        }
    }

    /// Whether a recovery table row's label (column 1) and box (columns 2-7: x0 y0 x1 y1 z0 z1)
    /// are a usable object in the image, its slices in order: a damaged or mistaken file is
    /// refused whole, not restored into objects the workbench cannot draw.
    static func placeFits(_ r: [Int], session: Session) -> Bool {
        let (w, h, d) = (session.width, session.height, session.depth)
        return (1...65535).contains(r[1]) && [r[2], r[4]].allSatisfy { (0..<w).contains($0) }
            && [r[3], r[5]].allSatisfy { (0..<h).contains($0) } && 0 <= r[6] && r[6] <= r[7] && r[7] < d
    }

    /// Recovery files of earlier versions held the composite label map `segs` and a 9-column
    /// table: each object gets the voxels of its label inside its slice range.
    private static func restoreComposite(_ arrays: [(name: String, array: NDArray)], session: Session, path: String) throws -> [SegObject] {
        guard let segs = arrays.first(where: { $0.name == "segs" })?.array.values(as: UInt16.self),
              let table = arrays.first(where: { $0.name == "objects" })?.array,
              let rows = table.values(as: Int32.self), table.shape.count == 2, table.shape[1] == 9 else {
            throw VolumeError("recovery file is damaged", path: path)
        }
        let (d, h, w) = (session.depth, session.height, session.width)
        guard segs.count == d * h * w else { throw VolumeError("recovery file is for an image of another size", path: path) }
        return try (0..<table.shape[0]).map { i in
            let r = rows[(i * 9)..<(i * 9 + 9)].map(Int.init)
            guard placeFits(r, session: session) else { throw VolumeError("recovery file is damaged", path: path) }
            let label = r[1]
            let (z0, z1) = (max(0, min(r[6], d - 1)), max(0, min(r[7], d - 1)))
            let mask = r[8] == 0 ? nil : segs.withUnsafeBufferPointer { p in
                ObjectMask.crop({ Int(p[$0]) == label }, depth: d, height: h, width: w, zRange: min(z0, z1)...max(z0, z1))
            }
            return SegObject(id: r[0], label: label, x0: r[2], y0: r[3], x1: r[4], y1: r[5], z0: r[6], z1: r[7], mask: mask, stale: r[8] == 0)
        }
    }

    static func hasRecovery(for session: Session) -> Bool {
        FileManager.default.fileExists(atPath: recoveryPath(for: session.path))
    }

    /// A recovery file made for another image at this path (of another size: the file was
    /// replaced) cannot be restored here. It is moved aside, not offered nor overwritten by this
    /// session's autosave; the path it went to is returned.
    static func setAsideIfForAnotherImage(_ session: Session) -> String? {
        let path = recoveryPath(for: session.path)
        guard isForAnotherImage(path, session) else { return nil }
        // Named for when it was last written; an earlier one set aside is kept, not replaced.
        let written = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        let stamp = DateFormatter()
        stamp.locale = Locale(identifier: "en_US_POSIX")
        stamp.dateFormat = "yyyyMMdd-HHmmss"
        let base = String(path.dropLast(4)) + "-other-image-" + stamp.string(from: written)
        var aside = base + ".npz", n = 1
        while FileManager.default.fileExists(atPath: aside) { n += 1; aside = base + "-\(n).npz" }
        return (try? FileManager.default.moveItem(atPath: path, toPath: aside)) != nil ? aside : nil
    }

    /// Whether a readable recovery file was written for another image: of another shape, or
    /// (files that name their image) other pixels. One that cannot be read is left where it
    /// is, and restoring it says what is wrong.
    private static func isForAnotherImage(_ path: String, _ session: Session) -> Bool {
        let (d, h, w) = (session.depth, session.height, session.width)
        if let segs = (try? Npz.listArrays(path: path))?.first(where: { $0.name == "segs" }) { return segs.shape != [d * h * w] }
        guard let arrays = try? Npz.read(path: path, only: ["shape", "image"]),
              let shape = arrays.first(where: { $0.name == "shape" })?.array.values(as: Int64.self) else { return false }
        if shape != [Int64(d), Int64(h), Int64(w)] { return true }
        let image = arrays.first(where: { $0.name == "image" })?.array.values(as: UInt64.self)
        return image != nil && image != [session.fingerprint]
    }

    /// What the recovery question names: how many objects and when they were last written.
    static func recoverySummary(for session: Session) -> String? {
        let path = recoveryPath(for: session.path)
        guard let arrays = try? Npz.listArrays(path: path), let table = arrays.first(where: { $0.name == "objects" }),
              let n = table.shape.first,
              let written = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = Calendar.current.isDateInToday(written) ? "HH:mm" : "yyyy-MM-dd HH:mm"
        return "\(n) object\(n == 1 ? "" : "s"), \(Calendar.current.isDateInToday(written) ? "today " : "")\(f.string(from: written))"
    }

    static func discardRecovery(for session: Session) {
        try? FileManager.default.removeItem(atPath: recoveryPath(for: session.path))
    }
}
