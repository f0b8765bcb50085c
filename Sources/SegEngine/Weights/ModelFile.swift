// medseg's own model file: the checkpoint's float tensors plus the int8 weights the int8 engine
// would compute from them, loaded through mmap without unpickling or quantizing.
//
// Layout (little-endian; docs/MODEL_FILE.md):
//   header, 32 bytes: magic "MSEGMDL1" (8) · version u32 (2) · tensor count u32 ·
//                     table offset u64 · table size in bytes u64
//   table: per tensor: name length u16 · name (UTF-8) · dtype u8 (0 float32, 1 int8) ·
//          rank u8 · shape i64 × rank · data offset u64 · data size in bytes u64
//   data: each tensor's bytes at its offset, every offset a multiple of 64.
// Float tensors carry their state-dict key; int8 blocks are named "int8.<i>.values" [out, in]
// and "int8.<i>.scales" [out], numbered in the order the model asks for them.
#if canImport(Glibc)
import Glibc
#endif

public struct ModelFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
}

public enum ModelFile {
    static let magic: [UInt8] = Array("MSEGMDL1".utf8)
    /// 2: layers after a LayerNorm hold W diag(sign g), not W diag(g) (docs/MODEL_FILE.md).
    public static let version: UInt32 = 2

    /// Whether `path` starts with the model file's magic.
    public static func isModelFile(_ path: String) -> Bool {
        guard let f = fopen(path, "rb") else { return false }
        defer { fclose(f) }
        var head = [UInt8](repeating: 0, count: 8)
        return fread(&head, 1, 8, f) == 8 && head == magic
    }

    /// Builds the int8 model from a checkpoint and writes it with its int8 weights at `output`:
    /// the header and table, then each tensor's bytes straight from its array (no copy of the
    /// whole file in memory). The caller makes the write atomic.
    public static func convert(checkpoint: String, output: String) throws {
        let c = try Checkpoint.load(path: checkpoint)
        let blocks: [Int8Weights]
        do {
            blocks = try Int8Weights.recording { _ = try LiteMedSAM(tensors: c.tensors, order: c.order, precision: .int8) }
        } catch let e as WeightError {
            throw WeightError("\(checkpoint): \(e.description)")   // which file lacks the weight
        }
        // Each entry writes its own bytes, from the array that holds them.
        typealias Entry = (name: String, dtype: UInt8, shape: [Int], size: Int, write: (UnsafeMutablePointer<FILE>) -> Bool)
        func entry<T>(_ name: String, _ dtype: UInt8, _ shape: [Int], _ values: [T]) -> Entry {
            (name, dtype, shape, values.count * MemoryLayout<T>.stride,
             { f in values.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) == $0.count } })
        }
        var entries: [Entry] = c.order.map { key in
            let t = c.tensors[key]!
            return entry(key, 0, t.shape, t.values)
        }
        for (i, b) in blocks.enumerated() {
            entries.append(entry("int8.\(i).values", 1, [b.scales.count, b.values.count / max(b.scales.count, 1)], b.values))
            entries.append(entry("int8.\(i).scales", 0, [b.scales.count], b.scales))
        }
        var table: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T, _ into: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { into += $0 } }
        let tableSize = entries.reduce(0) { $0 + 2 + $1.name.utf8.count + 2 + 8 * $1.shape.count + 16 }
        var offset = (32 + tableSize + 63) & ~63
        var offsets: [Int] = []
        for e in entries {
            offsets.append(offset)
            offset = (offset + e.size + 63) & ~63
            put(UInt16(e.name.utf8.count), &table); table += Array(e.name.utf8)
            table.append(e.dtype); table.append(UInt8(e.shape.count))
            for d in e.shape { put(Int64(d), &table) }
            put(UInt64(offsets.last!), &table); put(UInt64(e.size), &table)
        }
        var head = magic
        put(version, &head); put(UInt32(entries.count), &head); put(UInt64(32), &head); put(UInt64(tableSize), &head)
        head += table
        // Written in place: the caller makes it atomic (`medseg convert` writes a temporary file
        // and renames it, through AtomicFile, as every file medseg writes).
        guard let f = fopen(output, "wb") else { throw ModelFileError(output, "cannot write: \(String(cString: strerror(errno)))") }
        var ok = fwrite(head, 1, head.count, f) == head.count
        var at = head.count
        let zeros = [UInt8](repeating: 0, count: 64)
        for (e, o) in zip(entries, offsets) where ok {
            ok = fwrite(zeros, 1, o - at, f) == o - at && e.write(f)
            at = o + e.size
        }
        let closed = fclose(f)
        guard ok, closed == 0 else { throw ModelFileError(output, "cannot write: \(String(cString: strerror(errno)))") }
    }

    /// Loads a model file: float tensors copied out of the mapping, int8 blocks replayed to the
    /// layers that ask for them (in the order `convert` recorded them).
    public static func load(path: String, precision: Precision = .int8) throws -> LiteMedSAM {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelFileError(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 32 else { throw ModelFileError(path, "too short for a medseg model file") }
        let size = Int(st.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ModelFileError(path, "cannot map: \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, size) }
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        func u<T: FixedWidthInteger>(_ at: Int, _: T.Type) throws -> T {
            guard at >= 0, at + MemoryLayout<T>.size <= size else { throw ModelFileError(path, "truncated model file") }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
        }
        // A 64-bit count or offset read as a position in the file: refused unless it lies within it.
        func within(_ at: Int) throws -> Int {
            let v = try u(at, UInt64.self)
            guard v <= UInt64(size) else { throw ModelFileError(path, "damaged model file (an offset or size beyond its \(size) bytes)") }
            return Int(v)
        }
        guard Array(bytes[0..<8]) == magic else { throw ModelFileError(path, "not a medseg model file (bad magic)") }
        let v = try u(8, UInt32.self)
        guard v == version else { throw ModelFileError(path, "model file version \(v); this medseg reads version \(version): run 'medseg convert' again") }
        let count = Int(try u(12, UInt32.self))
        var at = try within(16)
        var tensors: [String: TensorData] = [:], order: [String] = []
        var int8Values: [Int: (shape: [Int], values: [Int8])] = [:], int8Scales: [Int: [Float]] = [:]
        for _ in 0..<count {
            let n = Int(try u(at, UInt16.self)); at += 2
            guard at + n + 2 <= size, let name = String(bytes: bytes[at..<(at + n)], encoding: .utf8) else { throw ModelFileError(path, "damaged tensor table") }
            at += n
            let dtype = try u(at, UInt8.self), rank = Int(try u(at + 1, UInt8.self)); at += 2
            guard rank <= 8 else { throw ModelFileError(path, "damaged tensor table (tensor '\(name)' of rank \(rank))") }
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(try within(at)); at += 8 }
            let off = try within(at), len = try within(at + 8); at += 16
            // Every dimension is at most the file's size, so the product is checked as it grows.
            var elements = 1
            for d in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, p <= size else { throw ModelFileError(path, "tensor '\(name)' has a bad shape \(shape)") }
                elements = p
            }
            guard dtype <= 1, off % 64 == 0, len <= size - off, len == elements * (dtype == 1 ? 1 : 4) else {
                throw ModelFileError(path, "tensor '\(name)' lies outside the file, off its 64-byte alignment, or has a bad size")
            }
            let raw = UnsafeRawBufferPointer(rebasing: bytes[off..<(off + len)])
            if name.hasPrefix("int8."), let i = name.split(separator: ".").dropFirst().first.flatMap({ Int($0) }), i >= 0 {
                if name.hasSuffix(".values") && dtype == 1 { int8Values[i] = (shape, Array(raw.bindMemory(to: Int8.self))) }
                else if name.hasSuffix(".scales") && dtype == 0 { int8Scales[i] = (0..<elements).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
                else { throw ModelFileError(path, "damaged tensor table (tensor '\(name)')") }
            } else {
                guard dtype == 0 else { throw ModelFileError(path, "damaged tensor table (tensor '\(name)' is not float)") }
                let values = [Float](unsafeUninitializedCapacity: elements) { buf, n in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: raw); n = elements
                }
                tensors[name] = TensorData(shape: shape, values: values)
                order.append(name)
            }
        }
        var blocks: [Int8Weights] = []
        for i in 0..<int8Values.count {
            guard let v = int8Values[i], let s = int8Scales[i], v.shape.count == 2, s.count == v.shape[0] else {
                throw ModelFileError(path, "int8 block \(i) is missing or inconsistent")
            }
            blocks.append(Int8Weights(values: v.values, scales: s, outFeatures: v.shape[0], inFeatures: v.shape[1]))
        }
        do {
            // The file holds every float weight as well: fp32 and bf16 models are built from them.
            if precision != .int8 { return try LiteMedSAM(tensors: tensors, order: order, precision: precision) }
            return try Int8Weights.replaying(blocks) { try LiteMedSAM(tensors: tensors, order: order, precision: .int8) }
        } catch let e as WeightError {
            throw ModelFileError(path, e.description)
        }
    }
}
