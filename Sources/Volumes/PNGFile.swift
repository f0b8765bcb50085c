// PNG read and write through libpng's simplified API (png_image), which reports errors as
// messages instead of longjmp-ing through Swift frames. 8-bit images come back as stored;
// 16-bit images without alpha come back as stored 16-bit values (libpng treats them as linear).
import CPng
#if canImport(Glibc)
import Glibc
#endif

public enum PNGFile {
    static let alpha = UInt32(PNG_FORMAT_FLAG_ALPHA), color = UInt32(PNG_FORMAT_FLAG_COLOR)
    static let linear = UInt32(PNG_FORMAT_FLAG_LINEAR), colormap = UInt32(PNG_FORMAT_FLAG_COLORMAP)

    /// uint8 or uint16 pixels: [H, W] gray, [H, W, 2] gray+alpha, [H, W, 3] RGB, [H, W, 4] RGBA.
    /// Palette images are expanded to RGB (RGBA when they carry transparency), unless
    /// `paletteIndices`: then they come back as their indices [H, W] (a label map stored with a
    /// colour per label, as many tools write them).
    public static func read(path: String, paletteIndices: Bool = false) throws -> NDArray {
        guard access(path, R_OK) == 0 else { throw VolumeError(String(cString: strerror(errno)), path: path) }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw VolumeError("not a PNG, or a damaged one: \(message(&image))", path: path)
        }
        defer { png_image_free(&image) }
        if paletteIndices && image.format & colormap != 0 {
            // The file's own palette order: libpng keeps a palette image's indices when asked
            // for a colour-mapped result in the palette's format.
            let (h, w) = (Int(image.height), Int(image.width))
            let count = try bufferBytes(image, [h, w], path: path)
            let entryBytes = Int((image.format & color != 0 ? 3 : 1) + (image.format & alpha != 0 ? 1 : 0))
            var map = [UInt8](repeating: 0, count: 256 * entryBytes)
            var buffer = [UInt8](repeating: 0, count: count)
            let ok = buffer.withUnsafeMutableBytes { b in map.withUnsafeMutableBytes { png_image_finish_read(&image, nil, b.baseAddress, 0, $0.baseAddress) } }
            guard ok != 0 else { throw VolumeError("damaged PNG: \(message(&image))", path: path) }
            return try NDArray(dtype: .uint8, shape: [h, w], storage: buffer)
        }
        var format = image.format & ~colormap
        let sixteen = format & linear != 0
        if sixteen && format & alpha != 0 {
            // The simplified API premultiplies 16-bit colour by alpha; refuse rather than alter values.
            throw VolumeError("16-bit PNG with an alpha channel is not supported", path: path)
        }
        if image.format & colormap != 0 { format = (format & alpha) | color }  // palette -> RGB(A), 8-bit
        image.format = format
        let channels = Int((format & color != 0 ? 3 : 1) + (format & alpha != 0 ? 1 : 0))
        let (h, w) = (Int(image.height), Int(image.width))
        let bytesPer = sixteen ? 2 : 1
        let count = try bufferBytes(image, [h, w, channels, bytesPer], path: path)
        var buffer = [UInt8](repeating: 0, count: count)
        let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw VolumeError("damaged PNG: \(message(&image))", path: path) }
        let shape = channels == 1 ? [h, w] : [h, w, channels]
        return try NDArray(dtype: sixteen ? .uint16 : .uint8, shape: shape, storage: buffer)
    }

    /// Writes uint8 or uint16 [H, W], [H, W, 1...4] pixels, atomically.
    public static func write(_ a: NDArray, to path: String) throws {
        guard a.dtype == .uint8 || a.dtype == .uint16 else {
            throw VolumeError("PNG holds uint8 or uint16 pixels, not \(a.dtype.numpyName)", path: path)
        }
        let channels = a.shape.count == 2 ? 1 : (a.shape.count == 3 ? a.shape[2] : 0)
        guard (1...4).contains(channels), a.shape[0] > 0, a.shape[1] > 0 else {
            throw VolumeError("PNG needs an (H, W) or (H, W, 1-4) array, not shape \(a.shape)", path: path)
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(a.shape[1])
        image.height = UInt32(a.shape[0])
        var format: UInt32 = (channels >= 3 ? color : 0) | (channels == 2 || channels == 4 ? alpha : 0)
        if a.dtype == .uint16 { format |= linear }
        image.format = format
        try AtomicFile.replace(path) { tmp in
            let ok = a.storage.withUnsafeBytes { png_image_write_to_file(&image, tmp, 0, $0.baseAddress, 0, nil) }
            defer { png_image_free(&image) }
            guard ok != 0 else { throw VolumeError("cannot write PNG: \(message(&image))", path: path) }
        }
    }

    /// Bytes of a read buffer of `dims`; refused when absurd (over 8 GB, or overflowing), and
    /// when the file is too small to hold that many pixels: deflate packs at most 1032 bytes
    /// into one, and a pixel takes at least one bit (a 200-byte file claiming 65535x65535
    /// pixels took 4 GB of memory before libpng found its data missing).
    static func bufferBytes(_ image: png_image, _ dims: [Int], path: String) throws -> Int {
        let (count, overflow) = NDArray.elementCount(dims)
        guard !overflow, count <= 1 << 33 else { throw VolumeError("PNG size \(image.width)x\(image.height) is absurd", path: path) }
        var st = stat()
        if stat(path, &st) == 0 {
            let pixels = Int(image.width) * Int(image.height), most = (Int(st.st_size) * 1032 + (1 << 20)) * 8
            guard pixels <= most else {
                throw VolumeError("PNG size \(image.width)x\(image.height) cannot fit in its \(st.st_size) bytes (the file is damaged)", path: path)
            }
        }
        return count
    }

    static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
