// The numpy .npy format (versions 1.0, 2.0, 3.0): a magic, a small Python-literal header
// ({'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }), then the raw data.
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// The header is small and simple enough to parse here; data is converted to C order, native endianness.
#if canImport(Glibc)
import Glibc
#endif

public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// Arrays larger than this are refused before anything is allocated.
    public static let maxBytes = 1 << 36  // 64 GiB

    /// What an npy header says: element type, byte order, layout and shape.
    public struct Header: Equatable {
        public var dtype: DType
        public var bigEndian: Bool
        public var fortranOrder: Bool
        public var shape: [Int]
        /// Bytes before the data (magic, version, length field and header text).
        public var dataOffset: Int
        public var dataBytes: Int { shape.reduce(1, *) * dtype.size }
    }

    /// How many bytes the header at the start of `bytes` takes (magic, length and text), when
    /// its first bytes tell and it is not absurd; callers that read a prefix read that much.
    public static func headerSize(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 8, bytes.starts(with: magic), let f = (try? lengthField(bytes)) ?? nil, f.length <= maxHeader else { return nil }
        return f.start + f.length
    }

    /// Longest header text read (numpy writes a few KB at most).
    static let maxHeader = 1 << 20

    /// Where the header text starts and its length, from the version and the length field that
    /// follow the magic (at least 8 bytes given); nil when `bytes` end before the field does.
    private static func lengthField(_ bytes: [UInt8]) throws -> (start: Int, length: Int)? {
        let major = bytes[6]
        let lenSize: Int
        switch major {
        case 1: lenSize = 2
        case 2, 3: lenSize = 4
        default: throw VolumeError("unsupported npy format version \(major).\(bytes[7])")
        }
        guard bytes.count >= 8 + lenSize else { return nil }
        var length = 0
        for i in 0..<lenSize { length |= Int(bytes[8 + i]) << (8 * i) }
        return (8 + lenSize, length)
    }

    /// Parses the header at the start of `bytes` (which may hold just the first part of a file).
    public static func parseHeader(_ bytes: [UInt8]) throws -> Header {
        guard bytes.count >= 10, bytes.starts(with: magic) else {
            throw VolumeError(bytes.count < 10 && bytes.starts(with: Array(magic.prefix(bytes.count))) && !bytes.isEmpty
                              ? "truncated npy header" : "not an npy array (bad magic)")
        }
        guard let (start, headerLen) = try lengthField(bytes) else { throw VolumeError("truncated npy header") }
        guard headerLen <= maxHeader else { throw VolumeError("npy header length \(headerLen) is absurd") }
        guard bytes.count >= start + headerLen else { throw VolumeError("truncated npy header") }
        guard let text = String(validating: bytes[start..<(start + headerLen)], as: UTF8.self) else {
            throw VolumeError("npy header is not text")
        }
        var h = try parseDict(text)
        h.dataOffset = start + headerLen
        return h
    }

    /// Decodes a whole .npy blob.
    public static func decode(_ bytes: [UInt8], name: String = "array") throws -> NDArray {
        let h = try parseHeader(bytes)
        let have = bytes.count - h.dataOffset
        guard have >= h.dataBytes else {
            throw VolumeError("`\(name)`: header promises \(h.dataBytes) bytes of data but only \(have) are present (truncated?)")
        }
        return try makeArray(h, data: bytes[h.dataOffset..<(h.dataOffset + h.dataBytes)])
    }

    /// Builds the C-order, native-endian array from raw data laid out as the header says.
    static func makeArray(_ h: Header, data: ArraySlice<UInt8>) throws -> NDArray {
        var raw = Array(data)
        let size = h.dtype.size
        if h.bigEndian && size > 1 {
            raw.withUnsafeMutableBufferPointer { p in
                var i = 0
                while i < p.count {
                    var a = i, b = i + size - 1
                    while a < b { p.swapAt(a, b); a += 1; b -= 1 }
                    i += size
                }
            }
        }
        if h.fortranOrder && h.shape.count > 1 { raw = fortranToC(raw, shape: h.shape, size: size) }
        return try NDArray(dtype: h.dtype, shape: h.shape, storage: raw)
    }

    /// Reorders column-major elements into row-major order.
    static func fortranToC(_ src: [UInt8], shape: [Int], size: Int) -> [UInt8] {
        let n = shape.reduce(1, *), dims = shape.count
        var fStride = [Int](repeating: 1, count: dims)
        for k in 1..<dims { fStride[k] = fStride[k - 1] * shape[k - 1] }
        var out = [UInt8](repeating: 0, count: src.count)
        var idx = [Int](repeating: 0, count: dims)
        var fOff = 0
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for c in 0..<n {
                    (d.baseAddress! + c * size).update(from: s.baseAddress! + fOff * size, count: size)
                    // Advance the C-order multi-index (last axis fastest), keeping the Fortran offset.
                    var k = dims - 1
                    while k >= 0 {
                        idx[k] += 1
                        fOff += fStride[k]
                        if idx[k] < shape[k] { break }
                        fOff -= fStride[k] * shape[k]
                        idx[k] = 0
                        k -= 1
                    }
                }
            }
        }
        return out
    }

    /// Encodes as npy version 1.0 (2.0 when the header would not fit), little-endian, C order.
    public static func encode(_ a: NDArray) -> [UInt8] {
        let shape = a.shape.count == 1 ? "(\(a.shape[0]),)" : "(" + a.shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr(a.dtype))', 'fortran_order': False, 'shape': \(shape), }"
        let v1 = 10 + dict.utf8.count + 1 <= 65535 + 10
        let pre = v1 ? 10 : 12
        let total = ((pre + dict.utf8.count + 1 + 63) / 64) * 64
        dict += String(repeating: " ", count: total - pre - dict.utf8.count - 1) + "\n"
        let len = dict.utf8.count
        var out = magic + [v1 ? 1 : 2, 0]
        out += v1 ? [UInt8(len & 0xFF), UInt8(len >> 8)] : (0..<4).map { UInt8((len >> (8 * $0)) & 0xFF) }
        out += Array(dict.utf8)
        out += a.storage
        return out
    }

    static func descr(_ t: DType) -> String {
        switch t {
        case .bool: return "|b1"
        case .uint8: return "|u1"
        case .int8: return "|i1"
        case .uint16: return "<u2"
        case .int16: return "<i2"
        case .uint32: return "<u4"
        case .int32: return "<i4"
        case .uint64: return "<u8"
        case .int64: return "<i8"
        case .float16: return "<f2"
        case .float32: return "<f4"
        case .float64: return "<f8"
        }
    }

    public static func read(path: String) throws -> NDArray {
        do {
            guard let f = fopen(path, "rb") else { throw VolumeError(String(cString: strerror(errno))) }
            defer { fclose(f) }
            var head = [UInt8](repeating: 0, count: 4096)
            var n = fread(&head, 1, head.count, f)
            // A header longer than the first read (numpy writes them for many-field dtypes).
            if let size = headerSize(Array(head[0..<n])), size > n {
                head += [UInt8](repeating: 0, count: size - n)
                n += fread(&head[n], 1, size - n, f)
            }
            let h = try parseHeader(Array(head[0..<n]))
            fseeko(f, 0, SEEK_END)
            let fileSize = Int(ftello(f))
            guard fileSize - h.dataOffset >= h.dataBytes else {
                throw VolumeError("header promises \(h.dataBytes) bytes of data but the file holds \(max(0, fileSize - h.dataOffset)) (truncated?)")
            }
            fseeko(f, off_t(h.dataOffset), SEEK_SET)
            var data = [UInt8](repeating: 0, count: h.dataBytes)
            guard fread(&data, 1, data.count, f) == data.count else { throw VolumeError("read error") }
            return try makeArray(h, data: data[...])
        } catch let e as VolumeError {
            throw e.at(path)
        }
    }

    public static func write(_ array: NDArray, to path: String) throws {
        try AtomicFile.write(encode(array), to: path)
    }
}

// MARK: - The header dictionary

extension Npy {
    /// Parses the Python dict literal of an npy header.
    static func parseDict(_ text: String) throws -> Header {
        var p = LiteralParser(Array(text.utf8))
        guard case .dict(let d) = try p.value() else { throw VolumeError("npy header is not a dictionary") }
        guard case .string(let descr)? = d["descr"] else {
            if case .list? = d["descr"] { throw VolumeError("structured arrays are not supported") }
            throw VolumeError("npy header has no 'descr'")
        }
        guard case .bool(let fortran)? = d["fortran_order"] else {
            throw VolumeError(d["fortran_order"].map { "npy header's 'fortran_order' is \($0), not True or False" } ?? "npy header has no 'fortran_order'")
        }
        guard case .tuple(let dims)? = d["shape"] else {
            throw VolumeError(d["shape"].map { "npy header's 'shape' is \($0), not a tuple" } ?? "npy header has no 'shape'")
        }
        var shape: [Int] = []
        for v in dims {
            guard case .int(let n) = v else { throw VolumeError("npy shape holds a non-integer") }
            guard n >= 0 else { throw VolumeError("npy shape has a negative dimension (\(n))") }
            shape.append(n)
        }
        let (count, overflow) = NDArray.elementCount(shape)
        let (dtype, big) = try parseDescr(descr)
        guard !overflow, count.multipliedReportingOverflow(by: dtype.size).overflow == false,
              count * dtype.size <= maxBytes else {
            throw VolumeError("npy shape \(shape) is absurdly large")
        }
        return Header(dtype: dtype, bigEndian: big, fortranOrder: fortran, shape: shape, dataOffset: 0)
    }

    static func parseDescr(_ s: String) throws -> (DType, Bool) {
        var chars = Array(s)
        var big = false
        if let c = chars.first, "<>|=".contains(c) {
            big = c == ">"
            chars.removeFirst()
        }
        let code = String(chars)
        if code.hasPrefix("O") { throw VolumeError("object arrays (pickles) are not supported") }
        let map: [String: DType] = ["b1": .bool, "?": .bool, "u1": .uint8, "i1": .int8, "u2": .uint16, "i2": .int16,
                                    "u4": .uint32, "i4": .int32, "u8": .uint64, "i8": .int64,
                                    "f2": .float16, "f4": .float32, "f8": .float64]
        guard let t = map[code] else { throw VolumeError("unsupported dtype '\(s)'") }
        return (t, big)
    }
}

/// A Python literal as found in npy headers.
enum PyLiteral: Equatable, CustomStringConvertible {
    case string(String), int(Int), bool(Bool), none, tuple([PyLiteral]), list([PyLiteral]), dict([String: PyLiteral])

    var description: String {
        switch self {
        case .string(let s): return "'\(s)'"
        case .int(let i): return String(i)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .tuple(let t): return "(" + t.map(\.description).joined(separator: ", ") + ")"
        case .list(let l): return "[" + l.map(\.description).joined(separator: ", ") + "]"
        case .dict: return "{...}"
        }
    }
}

/// A recursive-descent parser for the small subset of Python literals npy headers use.
struct LiteralParser {
    let b: [UInt8]
    var i = 0
    var depth = 0
    init(_ bytes: [UInt8]) { b = bytes }

    mutating func skipSpace() { while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 } }

    mutating func expect(_ c: UInt8) throws {
        skipSpace()
        guard i < b.count, b[i] == c else { throw VolumeError("malformed npy header") }
        i += 1
    }

    mutating func value() throws -> PyLiteral {
        skipSpace()
        guard i < b.count else { throw VolumeError("malformed npy header") }
        depth += 1
        defer { depth -= 1 }
        guard depth < 32 else { throw VolumeError("malformed npy header (nested too deeply)") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var d: [String: PyLiteral] = [:]
            while true {
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
                guard case .string(let k) = try value() else { throw VolumeError("malformed npy header (non-string key)") }
                try expect(UInt8(ascii: ":"))
                d[k] = try value()
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: ",") { i += 1 }
            }
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close = b[i] == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            let isTuple = b[i] == UInt8(ascii: "(")
            i += 1
            var items: [PyLiteral] = []
            while true {
                skipSpace()
                if i < b.count, b[i] == close { i += 1; return isTuple ? .tuple(items) : .list(items) }
                items.append(try value())
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: ",") { i += 1 }
            }
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            let q = b[i]
            i += 1
            let s = i
            while i < b.count, b[i] != q { i += 1 }
            guard i < b.count else { throw VolumeError("malformed npy header (unterminated string)") }
            let str = String(decoding: b[s..<i], as: UTF8.self)
            i += 1
            return .string(str)
        default:
            let s = i
            while i < b.count, let c = Optional(b[i]), (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 { i += 1 }
            let word = String(decoding: b[s..<i], as: UTF8.self)
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                var w = word
                if w.hasSuffix("L") { w.removeLast() }  // Python 2 longs
                guard let n = Int(w) else {
                    // Show what stopped the reading (a '.' of "2.5", say), not an empty word.
                    let near = word.isEmpty ? String(decoding: b[i..<min(b.count, i + 12)], as: UTF8.self) : word
                    throw VolumeError("malformed npy header near '\(near)'")
                }
                return .int(n)
            }
        }
    }
}
