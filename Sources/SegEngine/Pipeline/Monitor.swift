// SegEngine's lock, for the embedding cache, the segmenter and the 3D workers.
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable (Foundation-free): `locked` for plain mutual
/// exclusion, `lock`/`wait`/`broadcast`/`unlock` for workers that wait on each other.
final class Monitor: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }
    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }
    func locked<T>(_ body: () -> T) -> T {
        lock()
        defer { unlock() }
        return body()
    }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
    /// Releases the lock until another thread broadcasts, then holds it again.
    func wait() { pthread_cond_wait(&condition, &mutex) }
    func broadcast() { pthread_cond_broadcast(&condition) }
}
