// Saving masks (npz `segs`, NIfTI with the source geometry, PNG) and the recovery file that
// keeps unsaved work safe. All writes are atomic (Volumes writes a temp file, then renames).
import Foundation
import Volumes

enum Persistence {
    /// Why masks of this session cannot be saved at `path` (checked before asking to replace it).
    static func unusableTarget(_ path: String, session: Session) -> String? {
        let lower = path.lowercased()
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return "\(path) is a directory" }
        guard [".nii", ".nii.gz", ".png", ".npz"].contains(where: { lower.hasSuffix($0) }) else {
            return "\(path): unknown extension; save as .npz, .nii.gz, .nii or .png"
        }
        if lower.hasSuffix(".png") && session.volume.is3D { return "\(path): a 3D mask cannot be a PNG; use .npz or .nii.gz" }
        let dir = (path as NSString).deletingLastPathComponent
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

    /// The recovery file for an input: $MEDSEG_HOME/recovery/<name>-<hash of the absolute path>.npz.
    static func recoveryPath(for input: String) -> String {
        let abs = URL(fileURLWithPath: input).standardizedFileURL.path
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in abs.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let name = (abs as NSString).lastPathComponent.filter { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" }
        return DataHome.path + "/recovery/\(name)-\(String(hash, radix: 16)).npz"
    }

    /// Claims the recovery file of this session's image for this process (an advisory lock on a
    /// file beside it, held until the process ends). False when another medseg holds it: that
    /// session's recovery file is live and is neither offered nor written here.
    static func claimRecovery(for session: Session) -> Bool {
        let path = recoveryPath(for: session.path) + ".lock"
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return true }   // no lock possible (read-only home): carry on as before
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }   // the descriptor stays open: the lock lasts
        close(fd)
        return false
    }

    /// At a clean exit: the lock file of a recovery this process claimed goes (the lock ends
    /// with the process anyway; this keeps the folder from filling with them).
    static func releaseRecovery(for session: Session) {
        unlink(recoveryPath(for: session.path) + ".lock")
    }

    /// Stores the objects (boxes, labels, ranges) and their composite mask.
    static func autosave(_ objects: [SegObject], session: Session) throws {
        let path = recoveryPath(for: session.path)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let labels = composite(objects, depth: session.depth, height: session.height, width: session.width)
        let table = objects.flatMap { o -> [Int32] in
            [o.id, o.label, o.x0, o.y0, o.x1, o.y1, o.z0, o.z1, o.mask == nil ? 0 : 1].map { Int32(clamping: $0) }
        }
        try Npz.write([(name: "segs", array: NDArray(shape: [labels.count], values: labels)),
                       (name: "objects", array: NDArray(shape: [objects.count, 9], values: table))], to: path)
    }

    /// Objects from the recovery file, each with the voxels of its label inside its slice range.
    static func restore(session: Session) throws -> [SegObject] {
        let path = recoveryPath(for: session.path)
        let arrays = try Npz.read(path: path)
        guard let segs = arrays.first(where: { $0.name == "segs" })?.array.values(as: UInt16.self),
              let table = arrays.first(where: { $0.name == "objects" })?.array,
              let rows = table.values(as: Int32.self), table.shape.count == 2, table.shape[1] == 9 else {
            throw VolumeError("recovery file is damaged", path: path)
        }
        let (d, h, w) = (session.depth, session.height, session.width)
        guard segs.count == d * h * w else { throw VolumeError("recovery file is for an image of another size", path: path) }
        return (0..<table.shape[0]).map { i in
            let r = rows[(i * 9)..<(i * 9 + 9)].map(Int.init)
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
        guard let arrays = try? Npz.listArrays(path: path),
              let segs = arrays.first(where: { $0.name == "segs" }), segs.shape != [session.depth * session.height * session.width]
        else { return nil }
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

    static func discardRecovery(for session: Session) {
        try? FileManager.default.removeItem(atPath: recoveryPath(for: session.path))
    }
}
