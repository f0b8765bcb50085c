import Foundation
import XCTest
import CNifti
@testable import Volumes

/// NIfTI and PNG against files nibabel and pillow wrote (tools/fixtures/make_nifti_png_fixtures.py).
final class NiftiPNGTests: XCTestCase {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    func path(_ sub: String) -> String { Self.root.appendingPathComponent(sub).path }
    func expected(_ dir: String) throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("\(dir)/expected.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    }

    func testNiftiOneAndTwoEveryDtypeScalingAndAffines() throws {
        let exp = try expected("nifti")
        XCTAssertGreaterThanOrEqual(exp.count, 17)
        for (name, e) in exp.sorted(by: { $0.key < $1.key }) {
            let n = try Nifti.read(path: path("nifti/\(name)"))
            XCTAssertEqual(n.data.shape, e["shape"] as! [Int], name)
            XCTAssertEqual(n.data.dtype.numpyName, e["dtype"] as! String, name)
            let raw = n.data.doubles()
            XCTAssertEqual(raw.reduce(0, +), e["raw_sum"] as! Double, accuracy: 1e-6 * max(1, abs(e["raw_sum"] as! Double)), name)
            for (a, b) in zip(raw.prefix(4), e["raw_first"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(1, abs(b)), name) }
            let scaled = n.scaledValues().map(Double.init).reduce(0, +)
            XCTAssertEqual(scaled, e["scaled_sum"] as! Double, accuracy: 1e-4 * max(1, abs(e["scaled_sum"] as! Double)), name)
            let affine = e["affine"] as! [[Double]]
            for r in 0..<4 { for c in 0..<4 { XCTAssertEqual(n.affine[r][c], affine[r][c], accuracy: 1e-5, "\(name) affine") } }
            XCTAssertEqual(n.spacing.count, (e["spacing"] as! [Double]).count, name)
            for (a, b) in zip(n.spacing, e["spacing"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-6, "\(name) spacing") }
            XCTAssertEqual(n.niftiVersion, e["version"] as! Int, name)
        }
    }

    func testLabelMapWrittenForAnImageKeepsItsGeometry() throws {
        let dir = try scratchDir()
        for source in ["qform_and_sform.nii", "sform_only.nii.gz", "nifti2.nii.gz", "scaled.nii"] {
            let img = try Nifti.read(path: path("nifti/\(source)"))
            let labels = NDArray(shape: img.data.shape, values: (0..<img.data.count).map { UInt8($0 % 3) })
            for ext in [".nii", ".nii.gz"] {
                let out = dir.appendingPathComponent("labels-\(source)\(ext)").path
                try Nifti.write(labels, to: out, geometry: img.geometry)
                let back = try Nifti.read(path: out)
                XCTAssertEqual(back.data, labels, source)
                for (a, b) in zip(back.spacing, img.spacing) { XCTAssertEqual(a, b, accuracy: 1e-6 * b, source) }
                for r in 0..<4 { for c in 0..<4 { XCTAssertEqual(back.affine[r][c], img.affine[r][c], accuracy: 1e-6, "\(source)\(ext)") } }
                XCTAssertEqual(back.qformCode, img.qformCode)
                XCTAssertEqual(back.sformCode, img.sformCode)
                XCTAssertFalse(back.hasScaling)
            }
        }
        let plain = dir.appendingPathComponent("plain.nii.gz").path
        try Nifti.write(NDArray(shape: [2, 3, 4], values: [Float](repeating: 1.5, count: 24)), to: plain, geometry: nil, spacing: [2.5, 0.8, 0.7])
        let p = try Nifti.read(path: plain)
        XCTAssertEqual(p.spacing, [2.5, 0.8, 0.7].map { Double(Float($0)) })
        // Upper- and mixed-case extensions name the same formats (they used to fail and leave a
        // temporary file: libnifti gzips only names ending in lower-case .gz).
        for name in ["UPPER.NII.GZ", "Mixed.Nii.Gz", "UPPER.NII"] {
            let out = dir.appendingPathComponent(name).path
            try Nifti.write(NDArray(shape: [2, 3, 4], values: [UInt8](0..<24)), to: out, geometry: nil, spacing: [1, 1, 1])
            XCTAssertEqual(try Nifti.read(path: out).data, NDArray(shape: [2, 3, 4], values: [UInt8](0..<24)), name)
            let gz = name.lowercased().hasSuffix(".gz")
            XCTAssertEqual(FileManager.default.contents(atPath: out)!.prefix(2) == Data([0x1f, 0x8b]), gz, name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tmp") }, [])
    }

    /// A .nii.gz write is checked by inflating it whole: znzlib does not report a stream cut
    /// short (a nearly full disk left a 4 KB file that was reported saved).
    func testAWrittenGzipIsCheckedWhole() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medseg-gz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.nii.gz").path
        var state: UInt32 = 7
        let noisy = (0..<(40 * 40 * 20)).map { _ -> UInt8 in state = state &* 1_664_525 &+ 1_013_904_223; return UInt8(state >> 26) }
        try Nifti.write(NDArray(shape: [20, 40, 40], values: noisy), to: out, geometry: nil)
        XCTAssertTrue(Nifti.gzipInflatesWhole(out, to: 352 + 32_000))
        XCTAssertFalse(Nifti.gzipInflatesWhole(out, to: 352 + 31_999), "the length must match")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        let cut = dir.appendingPathComponent("cut.nii.gz").path
        try Data(bytes.prefix(4096)).write(to: URL(fileURLWithPath: cut))
        XCTAssertFalse(Nifti.gzipInflatesWhole(cut, to: 352 + 32_000))
        try Data(bytes.dropLast(4)).write(to: URL(fileURLWithPath: cut))   // the trailer's length cut
        XCTAssertFalse(Nifti.gzipInflatesWhole(cut, to: 352 + 32_000))
    }

    func testBadNiftiFiles() throws {
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("nifti/scaled.nii"))))
        try assertFails("trunc.nii", Array(good.prefix(good.count - 100)), "truncated")
        try assertFails("garbage.nii", [UInt8](repeating: 7, count: 600), "not a NIfTI file")
        var absurd = good
        // dim[1..3] are int16 at offsets 42, 44, 46 of a NIfTI-1 header: make them 32767 each.
        for off in [42, 44, 46] { absurd[off] = 0xFF; absurd[off + 1] = 0x7F }
        try assertFails("absurd.nii", absurd, "NIfTI dimensions [32767, 32767, 32767] are absurdly large")
        var long = good
        long[42] = 0x00; long[43] = 0x04  // dim[1] = 1024: fits the limits, but the file is far too short
        try assertFails("short.nii", long, "truncated: the header promises")
        var negative = good
        negative[42] = 0xF0; negative[43] = 0xFF
        try assertFails("negative.nii", negative, "NIfTI")
        let gz = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("nifti/uint8.nii.gz"))))
        try assertFails("trunc.nii.gz", Array(gz.prefix(gz.count / 2)), "truncated or damaged image data")
        XCTAssertThrowsError(try Nifti.read(path: path("nifti/complex.nii.gz"))) { e in
            XCTAssertTrue("\(e)".contains("COMPLEX64") && "\(e)".contains("not supported"), "\(e)")
        }
    }

    /// The header is taken at its word, and the data as stored (QA found each of these):
    /// NaN and infinities stay (libnifti's loader made them 0), dimensions of 0 are refused
    /// (libnifti made them 1), an offset past the end is refused (libnifti took 352 for 3e9, and
    /// a NIfTI-2 offset near 2^63 trapped an addition), a .hdr/.img header in a .nii is refused
    /// (its header bytes were read as voxels), and a gzip file claiming more than deflate can
    /// pack is refused before allocating (a 1.8 MB file made 1.9 GB of memory and temp file).
    func testNiftiHeadersAreTakenAtTheirWord() throws {
        let dir = try scratchDir()
        let floats = dir.appendingPathComponent("nan.nii").path
        let values: [Float] = [.nan, .infinity, -.infinity, 1, 2, 3]
        try Nifti.write(NDArray(shape: [1, 2, 3], values: values), to: floats, geometry: nil, spacing: [1, 1, 1])
        let back = try Nifti.read(path: floats).data.doubles()
        XCTAssertTrue(back[0].isNaN)
        XCTAssertEqual(Array(back[1...]), [.infinity, -.infinity, 1, 2, 3])
        try Nifti.write(NDArray(shape: [1, 2, 3], values: values), to: floats + ".gz", geometry: nil, spacing: [1, 1, 1])
        XCTAssertEqual(Array(try Nifti.read(path: floats + ".gz").data.doubles()[1...]), [.infinity, -.infinity, 1, 2, 3])

        // x.nii beside x.nii.gz: libnifti's loader took the data of x.nii for x.nii.gz.
        let twin = dir.appendingPathComponent("twin.nii").path
        try Nifti.write(NDArray(shape: [2, 3, 4], values: [UInt8](repeating: 7, count: 24)), to: twin, geometry: nil, spacing: [1, 1, 1])
        try Nifti.write(NDArray(shape: [2, 3, 4], values: [UInt8](repeating: 3, count: 24)), to: twin + ".gz", geometry: nil, spacing: [1, 1, 1])
        XCTAssertEqual(try Nifti.read(path: twin + ".gz").data.doubles(), [Double](repeating: 3, count: 24))
        XCTAssertEqual(try Nifti.read(path: twin).data.doubles(), [Double](repeating: 7, count: 24))

        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("nifti/scaled.nii"))))
        var zero = good
        zero[44] = 0; zero[45] = 0   // dim[2]
        try assertFails("zero.nii", zero, "impossible")
        var far = good
        withUnsafeBytes(of: Float(3e9).bitPattern.littleEndian) { far.replaceSubrange(108..<112, with: $0) }   // vox_offset
        try assertFails("far.nii", far, "lies beyond the file's end")
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { far.replaceSubrange(108..<112, with: $0) }
        try assertFails("nan-offset.nii", far, "damaged header: its vox_offset is nan")
        var pair = good
        pair.replaceSubrange(344..<348, with: Array("ni1\0".utf8))
        try assertFails("pair.nii", pair, "separate .img file")

        // NIfTI-2, 6x5x4 uint8, written by hand: vox_offset near 2^63.
        var h = [UInt8](repeating: 0, count: 544)
        func put<T>(_ v: T, at o: Int) { withUnsafeBytes(of: v) { h.replaceSubrange(o..<(o + $0.count), with: $0) } }
        put(Int32(540), at: 0)
        h.replaceSubrange(4..<12, with: [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A])
        put(Int16(2), at: 12); put(Int16(8), at: 14)
        for (i, d) in [Int64(3), 6, 5, 4, 1, 1, 1, 1].enumerated() { put(d, at: 16 + 8 * i) }
        for i in 0..<8 { put(Double(1), at: 104 + 8 * i) }
        put(Int64(544), at: 168); put(Double(1), at: 176)
        let n2 = h + [UInt8](repeating: 9, count: 120)
        XCTAssertEqual(try Nifti.read(path: try { let p = dir.appendingPathComponent("n2.nii").path
            try Data(n2).write(to: URL(fileURLWithPath: p)); return p }()).data.doubles(), [Double](repeating: 9, count: 120))
        put(Int64.max, at: 168)
        try assertFails("n2far.nii", h + [UInt8](repeating: 9, count: 120), "lies beyond the file's end")

        // A gzip file whose header claims 1 GiB (4096 x 4096 x 64) and holds 1 KB.
        var claim = good
        for (off, v) in [(42, Int16(4096)), (44, 4096), (46, 64)] { withUnsafeBytes(of: v.littleEndian) { claim.replaceSubrange(off..<(off + 2), with: $0) } }
        claim[70] = 2; claim[71] = 0; claim[72] = 8; claim[73] = 0   // uint8
        let bomb = dir.appendingPathComponent("claim.nii.gz").path
        let gz = try XCTUnwrap(gzopen(bomb, "wb"))
        let body = Array(claim.prefix(352)) + [UInt8](repeating: 0, count: 1024)
        XCTAssertEqual(body.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }, Int32(body.count))
        gzclose(gz)
        XCTAssertThrowsError(try Nifti.read(path: bomb)) { e in
            XCTAssertTrue("\(e)".contains("more than the") && "\(e)".contains("compressed bytes can hold"), "\(e)")
        }
    }

    /// Unused dimensions are written as 1 with a voxel size of 1, as nibabel writes them (a 2D
    /// mask had pixdim[3] = 0, and nibabel warned on reading it).
    func testUnusedDimensionsAreOne() throws {
        let out = try scratchDir().appendingPathComponent("mask2d.nii").path
        try Nifti.write(NDArray(shape: [3, 4], values: [UInt8](0..<12)), to: out, geometry: nil, spacing: [0.5, 0.7])
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        let dims = (0..<8).map { i in Int(Int16(b[40 + 2 * i]) | Int16(b[41 + 2 * i]) << 8) }
        let pixdim = (0..<8).map { i in b[(76 + 4 * i)..<(80 + 4 * i)].withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) } }
        XCTAssertEqual(dims, [2, 4, 3, 1, 1, 1, 1, 1])
        XCTAssertEqual(Array(pixdim[1...7]), [0.7, 0.5, 1, 1, 1, 1, 1])
        XCTAssertEqual(try Nifti.read(path: out).data, NDArray(shape: [3, 4], values: [UInt8](0..<12)))
    }

    /// A voxel size of NaN or 0 in the header: libnifti takes 1, and the label map says so (eval
    /// warns that NSD used 1 mm there).
    func testUnusableVoxelSizeIsNoted() throws {
        let dir = try scratchDir()
        let good = dir.appendingPathComponent("good.nii").path, bad = dir.appendingPathComponent("bad.nii").path
        try Nifti.write(NDArray(shape: [2, 3, 4], values: [UInt8](0..<24)), to: good, geometry: nil, spacing: [2.5, 0.8, 0.7])
        XCTAssertTrue(try Nifti.read(path: good).spacingStored)
        XCTAssertNil(try LabelFile.read(path: good, keys: []).spacingNote)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(80..<84, with: $0) }   // pixdim[1]
        try bytes.write(to: URL(fileURLWithPath: bad))
        let n = try Nifti.read(path: bad)
        XCTAssertFalse(n.spacingStored)
        XCTAssertEqual(n.spacing, [2.5, Double(Float(0.8)), 1])   // stored as float32
        let map = try LabelFile.read(path: bad, keys: [])
        XCTAssertTrue(map.spacingNote?.contains("0 or not a number") ?? false, "\(String(describing: map.spacingNote))")
    }

    func testPNGEveryKind() throws {
        for (key, e) in try expected("png") {
            // "palette.png/indices": the palette image read as its indices (as a label map is).
            let name = String(key.split(separator: "/")[0]), indices = key.hasSuffix("/indices")
            let a = try PNGFile.read(path: path("png/\(name)"), paletteIndices: indices)
            XCTAssertEqual(a.shape, e["shape"] as! [Int], key)
            XCTAssertEqual(Int(a.doubles().reduce(0, +)), e["sum"] as! Int, key)
            XCTAssertEqual(a.doubles().prefix(6).map { Int($0) }, e["first"] as! [Int], key)
            XCTAssertEqual(a.dtype, name == "gray16.png" ? .uint16 : .uint8, key)
            if indices {
                let labels = try LabelFile.read(path: path("png/\(name)"), keys: [])
                XCTAssertEqual(labels.labels.map(Double.init), a.doubles(), key)
            }
        }
    }

    func testPNGRoundTripAndBadFiles() throws {
        let dir = try scratchDir()
        for a in [NDArray(shape: [3, 4], values: (0..<12).map { UInt8($0 * 20) }),
                  NDArray(shape: [2, 3], values: [UInt16(0), 1, 65535, 300, 40000, 7]),
                  NDArray(shape: [2, 2, 3], values: (0..<12).map { UInt8($0) }),
                  NDArray(shape: [2, 2, 4], values: (0..<16).map { UInt8($0 * 9) })] {
            let out = dir.appendingPathComponent("x.png").path
            try PNGFile.write(a, to: out)
            XCTAssertEqual(try PNGFile.read(path: out), a)
        }
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("png/rgb.png"))))
        try assertFails("trunc.png", Array(good.prefix(good.count - 30)), "damaged PNG", reader: { try PNGFile.read(path: $0) })
        var crc = good
        crc[good.count - 20] ^= 0x55
        try assertFails("crc.png", crc, "PNG", reader: { try PNGFile.read(path: $0) })
        try assertFails("text.png", Array("no png here".utf8), "not a PNG", reader: { try PNGFile.read(path: $0) })
        // A header claiming 65535x65535 pixels (its CRC made right) in a file of a few hundred
        // bytes: refused before the 4 GB buffer is allocated.
        var huge = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("png/gray8.png"))))
        for at in [16, 20] { huge.replaceSubrange(at..<(at + 4), with: [0, 0, 0xFF, 0xFF]) }
        let sum = UInt32(huge[12..<29].withUnsafeBytes { crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, 17) })
        huge.replaceSubrange(29..<33, with: withUnsafeBytes(of: sum.bigEndian) { Array($0) })
        try assertFails("huge.png", huge, "PNG size 65535x65535 cannot fit in its", reader: { try PNGFile.read(path: $0) })
        XCTAssertThrowsError(try PNGFile.write(NDArray(shape: [2, 2], values: [Float](repeating: 0, count: 4)), to: dir.appendingPathComponent("f.png").path))
    }

    func scratchDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vol-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func assertFails(_ name: String, _ bytes: [UInt8], _ fragment: String, reader: ((String) throws -> Any)? = nil,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try scratchDir().appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try (reader ?? { try Nifti.read(path: $0) })(p), file: file, line: line) { e in
            XCTAssertTrue("\(e)".hasPrefix(p) && "\(e)".contains(fragment) && !"\(e)".contains("\n"), "\(e)", file: file, line: line)
        }
    }
}
