// The opened image and everything derived from it once: the uint8 pixels the model sees, the
// ground truth, where results go. Immutable after loading, shared by the UI and the workers.
import Foundation
import Render
import SegEngine
import Volumes

final class Session: @unchecked Sendable {
    let path: String
    let image: OpenedImage
    let groundTruth: LabelMap?
    /// The model's input: [D, H, W] (or [H, W, C]) in 0-255, fixed for the session so cached
    /// embeddings stay valid (challenge npz as stored; CT soft-tissue window; else MedSAM's percentile rule).
    let modelPixels: [UInt8]
    let autoWindow: Window
    let initialWindow: (Window, String)
    /// Where `w` saves (from --out, else next to the input).
    let outputPath: String

    /// What the model is given when it is not the image's own bytes (for the model's ready message).
    var modelWindowNote: String? {
        if image.isUInt8 { return nil }
        return image.looksLikeCT ? "it sees W 400 L 40 (CT soft tissue)" : "it sees the 0.5-99.5 percentile window"
    }

    var volume: Volume { image.volume }
    var depth: Int { image.volume.depth }
    var height: Int { image.volume.height }
    var width: Int { image.volume.width }
    var channels: Int { image.volume.channels }
    /// A NIfTI with a qform or sform code: its affine says which way the patient lies (a NIfTI
    /// without either has no known orientation, by the NIfTI rules; npz and PNG carry none).
    var hasKnownOrientation: Bool { image.niftiGeometry?.orientationKnown ?? false }
    /// How the views are turned on screen by default: the standard orientation where it is known.
    var standardOrientation: DisplayOrientation {
        hasKnownOrientation ? DisplayOrientation.standard(affine: volume.affine) : .stored
    }

    init(path: String, image: OpenedImage, groundTruth: LabelMap?, outputPath: String?) throws {
        self.path = path
        self.image = image
        self.groundTruth = groundTruth ?? image.groundTruth
        if let gt = self.groundTruth, gt.shape != image.volume.spatialShape {
            // Written x first, as `medseg info` and image viewers give sizes.
            func size(_ shape: [Int]) -> String { shape.reversed().map(String.init).joined(separator: " x ") }
            throw VolumeError("the ground truth is \(size(gt.shape)) but the image is \(size(image.volume.spatialShape))"
                + (image.volume.spatialShape.count == 3 ? " (x, y, z)" : " (x, y)"))
        }
        let known = image.niftiGeometry?.orientationKnown ?? false
        if let gt = self.groundTruth, let why = LabelMap.gridMismatch(known ? image.volume.affine : nil, gt.affine) {
            throw VolumeError("the ground truth does not lie on the image's grid: \(why)")
        }
        let v = image.volume.voxels
        let auto = image.isUInt8 ? Window(width: 255, level: 127.5) : (Windowing.percentileWindow(v) ?? Window(width: 1, level: 0.5))
        autoWindow = auto
        if image.isUInt8 {
            modelPixels = v.map { UInt8(max(0, min(255, $0))) }
            initialWindow = (auto, "auto")
        } else if image.looksLikeCT {
            modelPixels = Windowing.apply(v, window: WindowPreset.softTissue.ctWindow!)
            initialWindow = (WindowPreset.softTissue.ctWindow!, WindowPreset.softTissue.rawValue)
        } else {
            modelPixels = Windowing.applyPercentile(v)
            initialWindow = (auto, "auto")
        }
        self.outputPath = outputPath ?? Session.defaultOutput(for: path, format: image.format)
        fingerprint = Session.fingerprint(modelPixels)
    }

    /// A 64-bit FNV-1a hash of the model's pixels, 8 bytes at a time: the recovery file names the
    /// image it was made on by it, so work is never offered on another image of the same size
    /// saved at the same path.
    let fingerprint: UInt64

    static func fingerprint(_ pixels: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        pixels.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01b3 }
            for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3 }
        }
        return h
    }

    static func defaultOutput(for path: String, format: FileFormat) -> String {
        let dir = PathText.parent(path)
        var base = (path as NSString).lastPathComponent
        for ext in [".nii.gz", ".nii", ".npz", ".npy", ".png"] where base.lowercased().hasSuffix(ext) {
            base = String(base.dropLast(ext.count)); break
        }
        let ext: String
        switch format {
        case .nifti: ext = "_seg.nii.gz"
        case .png: ext = "_seg.png"
        case .npz, .npy: ext = "_segs.npz"
        }
        return (dir.isEmpty ? "" : dir + "/") + base + ext
    }

    /// The model's input for axial slice z.
    func modelSlice(_ z: Int) -> ImageU8 {
        let plane = height * width * channels
        return ImageU8(height: height, width: width, channels: channels,
                       pixels: Array(modelPixels[(z * plane)..<((z + 1) * plane)]))
    }

    /// Stored values at a voxel (one per channel: RGB images have three).
    func values(at c: Voxel) -> ArraySlice<Float> {
        let i = ((c.z * height + c.y) * width + c.x) * channels
        return image.volume.voxels[i..<(i + channels)]
    }

    /// The plane a view shows, windowed for display.
    func displaySlice(_ frame: ViewFrame, through c: Voxel, window: Window) -> SliceImage {
        let (pw, ph) = frame.plane
        let lo = Float(window.lower), scale = Float(255 / window.width)
        let ch = channels
        var px = [UInt8](repeating: 0, count: pw * ph * ch)
        image.volume.voxels.withUnsafeBufferPointer { v in
            for pv in 0..<ph { for pu in 0..<pw {
                let i = frame.index(PlanePoint(u: pu, v: pv), through: c) * ch
                for k in 0..<ch {
                    let t = (v[i + k] - lo) * scale
                    px[(pv * pw + pu) * ch + k] = UInt8(max(0, min(255, t.isNaN ? 0 : t)))
                }
            } }
        }
        return SliceImage(width: pw, height: ph, channels: ch, pixels: px)
    }

    /// Ground-truth labels of the plane a view shows.
    func groundTruthPlane(_ frame: ViewFrame, through c: Voxel) -> [UInt16]? {
        guard let gt = groundTruth else { return nil }
        let (pw, ph) = frame.plane
        var out = [UInt16](repeating: 0, count: pw * ph)
        for pv in 0..<ph { for pu in 0..<pw {
            out[pv * pw + pu] = gt.labels[frame.index(PlanePoint(u: pu, v: pv), through: c)]
        } }
        return out
    }

    /// Predicted labels of the plane a view shows (objects in order, later over earlier).
    func predictionPlane(_ objects: [SegObject], _ frame: ViewFrame, through c: Voxel) -> [UInt16] {
        let axis = frame.axis, (pw, ph) = frame.plane
        var out = [UInt16](repeating: 0, count: pw * ph)
        for o in objects {
            guard let m = o.mask else { continue }
            let label = UInt16(clamping: o.label)
            for z in m.z0..<(m.z0 + m.d) { for y in m.y0..<(m.y0 + m.h) {
                switch axis {
                case .axial: if z != c.z { continue }
                case .coronal: if y != c.y { continue }
                case .sagittal: if c.x < m.x0 || c.x >= m.x0 + m.w { continue }
                }
                let row = ((z - m.z0) * m.h + y - m.y0) * m.w
                let xs = axis == .sagittal ? (c.x..<(c.x + 1)) : (m.x0..<(m.x0 + m.w))
                for x in xs where m.bits[row + x - m.x0] != 0 {
                    let p = frame.planePoint(Voxel(x: x, y: y, z: z))
                    out[p.v * pw + p.u] = label
                }
            } }
        }
        return out
    }
}
