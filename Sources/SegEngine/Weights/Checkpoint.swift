// Reading PyTorch checkpoints (`torch.save` zip format) without PyTorch: the archive through
// libzip, `<prefix>/data.pkl` through the pickle reader, tensor bytes from `<prefix>/data/<key>`.
import CZip
#if canImport(Glibc)
import Glibc
#endif

/// A tensor from a checkpoint: shape and float values in C order.
public struct TensorData: Sendable {
    public let shape: [Int]
    public let values: [Float]
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// A checkpoint problem, one line naming the file.
public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
}

/// The state dict of a LiteMedSAM checkpoint (or of a training checkpoint holding one under
/// `model` or `state_dict`, as medsam-lite-train writes).
public struct Checkpoint: Sendable {
    public let tensors: [String: TensorData]
    /// Keys in file order.
    public let order: [String]

    public static func load(path: String) throws -> Checkpoint {
        guard access(path, R_OK) == 0 else { throw CheckpointError(path, String(cString: strerror(errno))) }
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw CheckpointError(path, "is a directory, not a checkpoint file") }
        var err: Int32 = 0
        guard let za = zip_open(path, ZIP_RDONLY, &err) else {
            if err == ZIP_ER_NOZIP && !startsLikeZip(path) {
                throw CheckpointError(path, "not a PyTorch checkpoint (not a zip archive; legacy torch.save files are not supported)")
            }
            throw CheckpointError(path, "truncated or damaged checkpoint archive (libzip error \(err))")
        }
        defer { zip_discard(za) }
        var names: [String] = []
        for k in 0..<UInt64(max(0, zip_get_num_entries(za, 0))) {
            if let n = zip_get_name(za, k, 0) { names.append(String(cString: n)) }
        }
        guard let pkl = names.first(where: { $0.hasSuffix("data.pkl") }) else {
            throw CheckpointError(path, "no data.pkl in the archive: not a PyTorch checkpoint")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        let root: PickleValue
        do {
            var reader = PickleReader(try entry(za, pkl, path: path))
            root = try reader.run()
        } catch let e as PickleError {
            throw CheckpointError(path, e.message)
        }
        guard case .dict(var dict) = root else { throw CheckpointError(path, "the checkpoint does not hold a dictionary") }
        for nested in ["model", "state_dict"] {
            if case .dict(let inner)? = dict.values[nested] { dict = inner; break }
        }
        var storages: [String: [UInt8]] = [:]
        var tensors: [String: TensorData] = [:]
        var order: [String] = []
        for key in dict.keys {
            guard case .tensor(let storage, let type, let offset, let size, let stride)? = dict.values[key] else { continue }
            if storages[storage] == nil { storages[storage] = try entry(za, prefix + "data/" + storage, path: path) }
            tensors[key] = try materialise(storages[storage]!, type: type, offset: offset, size: size, stride: stride,
                                           what: "tensor '\(key)'", path: path)
            order.append(key)
        }
        guard !order.isEmpty else { throw CheckpointError(path, "the checkpoint holds no tensors") }
        return Checkpoint(tensors: tensors, order: order)
    }

    /// True when the file begins with a zip local-file header ("PK\u{3}\u{4}").
    static func startsLikeZip(_ path: String) -> Bool {
        guard let f = fopen(path, "rb") else { return false }
        defer { fclose(f) }
        var head = [UInt8](repeating: 0, count: 4)
        return fread(&head, 1, 4, f) == 4 && head == [0x50, 0x4B, 0x03, 0x04]
    }

    /// The bytes of one archive member.
    static func entry(_ za: OpaquePointer, _ name: String, path: String) throws -> [UInt8] {
        var st = zip_stat_t()
        zip_stat_init(&st)
        guard zip_stat(za, name, 0, &st) == 0 else { throw CheckpointError(path, "missing archive member '\(name)'") }
        guard st.size < 1 << 34 else { throw CheckpointError(path, "archive member '\(name)' is absurdly large") }
        guard let f = zip_fopen(za, name, 0) else { throw CheckpointError(path, "cannot open archive member '\(name)'") }
        defer { zip_fclose(f) }
        let total = Int(st.size)
        var buf = [UInt8](repeating: 0, count: total)
        var off = 0
        while off < total {
            let n = buf.withUnsafeMutableBytes { zip_fread(f, $0.baseAddress! + off, zip_uint64_t(total - off)) }
            guard n > 0 else { throw CheckpointError(path, "archive member '\(name)' is truncated or damaged") }
            off += Int(n)
        }
        return buf
    }

    /// Element size and reader of each storage type.
    static func elementSize(_ type: String) -> Int? {
        switch type {
        case "FloatStorage", "IntStorage": return 4
        case "DoubleStorage", "LongStorage": return 8
        case "HalfStorage", "BFloat16Storage", "ShortStorage": return 2
        case "ByteStorage", "CharStorage", "BoolStorage": return 1
        default: return nil
        }
    }

    static func materialise(_ bytes: [UInt8], type: String, offset: Int, size: [Int], stride: [Int],
                            what: String, path: String) throws -> TensorData {
        guard let es = elementSize(type) else { throw CheckpointError(path, "\(what) has unsupported storage type \(type)") }
        guard size.count == stride.count, size.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }), stride.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw CheckpointError(path, "\(what) has a malformed shape \(size) / stride \(stride)")
        }
        let count = size.reduce(1, *)
        let storageCount = bytes.count / es
        // The furthest element addressed must lie inside the storage.
        let last = offset + zip(size, stride).reduce(0) { $0 + max($1.0 - 1, 0) * $1.1 }
        guard count == 0 || last < storageCount else {
            throw CheckpointError(path, "\(what) needs \(last + 1) elements but its storage holds \(storageCount)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            func element(_ k: Int) -> Float {
                let p = raw.baseAddress! + k * es
                switch type {
                case "FloatStorage": return p.loadUnaligned(as: Float.self)
                case "DoubleStorage": return Float(p.loadUnaligned(as: Double.self))
                case "HalfStorage": return Float(p.loadUnaligned(as: Float16.self))
                case "BFloat16Storage": return Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16)
                case "LongStorage": return Float(p.loadUnaligned(as: Int64.self))
                case "IntStorage": return Float(p.loadUnaligned(as: Int32.self))
                case "ShortStorage": return Float(p.loadUnaligned(as: Int16.self))
                case "CharStorage": return Float(p.load(as: Int8.self))
                default: return Float(p.load(as: UInt8.self))
                }
            }
            let contiguous = zip(size, stride).reversed().reduce((true, 1)) { acc, d in
                (acc.0 && (d.0 <= 1 || d.1 == acc.1), acc.1 * d.0)
            }.0
            if contiguous && type == "FloatStorage" {
                values.withUnsafeMutableBytes { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(offset * 4)..<((offset + count) * 4)]))
                }
                return
            }
            var idx = [Int](repeating: 0, count: size.count)
            for n in 0..<count {
                var k = offset
                for d in 0..<size.count { k += idx[d] * stride[d] }
                values[n] = element(k)
                var d = size.count - 1
                while d >= 0 { idx[d] += 1; if idx[d] < size[d] { break }; idx[d] = 0; d -= 1 }
            }
        }
        return TensorData(shape: size, values: values)
    }
}
