// Slice embeddings kept for reuse, within a byte budget, least recently used evicted first.
// The workbench and 3D propagation ask for the same slice many times; encoding costs ~1 s.

/// A slice ready for decoding: its embedding and the geometry post-processing needs.
public struct EncodedSlice: Sendable {
    public let embedding: Tensor   // [64, 64, 256]
    public let pre: PreprocessedGeometry
    public var bytes: Int { embedding.count * 4 }
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
    private let lock = NSLockLike()
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

/// A minimal mutex on pthread (Foundation-free).
final class NSLockLike: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return body()
    }
}

#if canImport(Glibc)
import Glibc
#endif
