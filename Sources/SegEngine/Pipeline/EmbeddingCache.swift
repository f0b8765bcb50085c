// Slice embeddings kept for reuse, within a byte budget, least recently used evicted first.
// The workbench and 3D propagation ask for the same slice many times; an encode costs 0.2-0.5 s.

/// A slice ready for decoding: its embedding and the geometry post-processing needs. A compact
/// slice keeps the embedding in half precision, 2 MB instead of 4 (docs/DECISIONS.md, "Compact
/// slice embeddings"); every decode of it sees the same rounded values.
public struct EncodedSlice: Sendable {
    public let pre: PreprocessedGeometry
    private let values: Values
    private enum Values: Sendable {
        case float(Tensor)
        case half(shape: [Int], [Float16])
    }

    public init(embedding: Tensor, pre: PreprocessedGeometry, compact: Bool = false) {
        self.pre = pre
        guard compact else { values = .float(embedding); return }
        var h = [Float16](repeating: 0, count: embedding.count)
        embedding.data.withUnsafeBufferPointer { s in
            h.withUnsafeMutableBufferPointer { d in for i in 0..<s.count { d[i] = Float16(s[i]) } }
        }
        values = .half(shape: embedding.shape, h)
    }

    /// The embedding [64, 64, 256] in float (expanded from half precision if compact).
    public var embedding: Tensor {
        switch values {
        case .float(let t): return t
        case .half(let shape, let h):
            var t = Tensor(uninitialized: shape)
            h.withUnsafeBufferPointer { s in
                t.data.withUnsafeMutableBufferPointer { d in for i in 0..<s.count { d[i] = Float(s[i]) } }
            }
            return t
        }
    }

    public var isCompact: Bool { if case .half = values { return true } else { return false } }

    /// Bytes the embedding holds.
    public var bytes: Int {
        switch values {
        case .float(let t): return t.count * 4
        case .half(_, let h): return h.count * 2
        }
    }
}

/// The sizes post-processing needs (the preprocessed tensor itself is not kept).
public struct PreprocessedGeometry: Sendable, Equatable {
    public let newHeight, newWidth, originalHeight, originalWidth: Int
}

public final class EmbeddingCache: @unchecked Sendable {
    public let budgetBytes: Int
    private var entries: [Int: (slice: EncodedSlice, tick: UInt64)] = [:]
    private var tick: UInt64 = 0
    private var used = 0
    private let lock = Monitor()
    public private(set) var hits = 0, misses = 0

    public init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    public func get(_ key: Int) -> EncodedSlice? {
        lock.locked {
            tick += 1
            guard var e = entries[key] else { misses += 1; return nil }
            hits += 1
            e.tick = tick
            entries[key] = e
            return e.slice
        }
    }

    public func put(_ key: Int, _ slice: EncodedSlice) {
        lock.locked {
            tick += 1
            if let old = entries[key] { used -= old.slice.bytes }
            entries[key] = (slice, tick)
            used += slice.bytes
            while used > budgetBytes, entries.count > 1,
                  let victim = entries.filter({ $0.key != key }).min(by: { $0.value.tick < $1.value.tick }) {
                used -= victim.value.slice.bytes
                entries.removeValue(forKey: victim.key)
            }
        }
    }

    /// Whether `key` is cached (without touching the LRU order or the hit counts).
    public func contains(_ key: Int) -> Bool { lock.locked { entries[key] != nil } }

    public var count: Int { lock.locked { entries.count } }
    public var usedBytes: Int { lock.locked { used } }
    public func removeAll() { lock.locked { entries.removeAll(); used = 0 } }
}
