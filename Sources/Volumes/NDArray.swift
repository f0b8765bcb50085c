// A dense n-dimensional array as read from or written to npy/NIfTI/PNG files.
// Storage is C order (last axis fastest) in the machine's byte order (little-endian on every
// platform medseg runs on); readers convert big-endian and Fortran-order data on the way in.

/// Element types medseg reads and writes (the numpy dtypes of the challenge formats and NIfTI).
public enum DType: String, CaseIterable, Sendable, Equatable {
    case bool, uint8, int8, uint16, int16, uint32, int32, uint64, int64, float16, float32, float64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .uint8, .int8: return 1
        case .uint16, .int16, .float16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        }
    }

    /// numpy's short name ("u1", "f4", ...), as used in messages and `medseg info`.
    public var numpyName: String {
        switch self {
        case .bool: return "bool"
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float16: return "float16"
        case .float32: return "float32"
        case .float64: return "float64"
        }
    }

    public var isFloatingPoint: Bool { self == .float16 || self == .float32 || self == .float64 }
}

/// Swift scalar types that map one-to-one onto a `DType`.
public protocol NDScalar { static var dtype: DType { get } }
extension Bool: NDScalar { public static var dtype: DType { .bool } }
extension UInt8: NDScalar { public static var dtype: DType { .uint8 } }
extension Int8: NDScalar { public static var dtype: DType { .int8 } }
extension UInt16: NDScalar { public static var dtype: DType { .uint16 } }
extension Int16: NDScalar { public static var dtype: DType { .int16 } }
extension UInt32: NDScalar { public static var dtype: DType { .uint32 } }
extension Int32: NDScalar { public static var dtype: DType { .int32 } }
extension UInt64: NDScalar { public static var dtype: DType { .uint64 } }
extension Int64: NDScalar { public static var dtype: DType { .int64 } }
extension Float16: NDScalar { public static var dtype: DType { .float16 } }
extension Float: NDScalar { public static var dtype: DType { .float32 } }
extension Double: NDScalar { public static var dtype: DType { .float64 } }

/// An n-dimensional array: dtype, shape and C-order native-endian bytes.
public struct NDArray: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let storage: [UInt8]

    /// Number of elements (1 for a 0-d array).
    public var count: Int { shape.reduce(1, *) }

    /// Wraps raw bytes; the byte count must equal count * dtype.size.
    public init(dtype: DType, shape: [Int], storage: [UInt8]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw VolumeError("negative dimension in shape \(shape)")
        }
        let (n, overflow) = NDArray.elementCount(shape)
        guard !overflow, n.multipliedReportingOverflow(by: dtype.size).overflow == false,
              n * dtype.size == storage.count else {
            throw VolumeError("shape \(shape) of \(dtype.numpyName) needs a different byte count than the \(storage.count) bytes given")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// Copies typed values; `values.count` must equal the product of `shape`.
    public init<T: NDScalar>(shape: [Int], values: [T]) {
        precondition(shape.reduce(1, *) == values.count, "NDArray: shape \(shape) does not hold \(values.count) values")
        self.dtype = T.dtype
        self.shape = shape
        self.storage = values.withUnsafeBytes { Array($0) }
    }

    /// Product of dimensions, reporting overflow (used to refuse absurd headers before allocating).
    public static func elementCount(_ shape: [Int]) -> (Int, overflow: Bool) {
        var n = 1
        for d in shape {
            let (m, o) = n.multipliedReportingOverflow(by: d)
            if o { return (0, true) }
            n = m
        }
        return (n, false)
    }

    /// The elements as `T` when the dtype is exactly `T`, else nil.
    public func values<T: NDScalar>(as _: T.Type) -> [T]? {
        guard T.dtype == dtype else { return nil }
        guard count > 0 else { return [] }
        return [T](unsafeUninitializedCapacity: count) { buf, initialized in
            storage.withUnsafeBytes { raw in
                _ = memcpy(buf.baseAddress!, raw.baseAddress!, storage.count)
            }
            initialized = count
        }
    }

    /// Every element converted to Double (bool -> 0/1).
    public func doubles() -> [Double] { converted(Double.self) { $0 } }

    /// Every element converted to Float (bool -> 0/1).
    public func floats() -> [Float] { converted(Float.self) { Float($0) } }

    private func converted<R>(_: R.Type, _ f: @escaping (Double) -> R) -> [R] { visitElements(ConvertElements(f: f)) }

    /// Runs `v` over the stored elements in their own type, with their conversion to Double.
    private func visitElements<V: ElementVisitor>(_ v: V) -> V.Result {
        storage.withUnsafeBytes { raw in
            switch dtype {
            case .bool: return v.visit(raw.bindMemory(to: UInt8.self)) { $0 != 0 ? 1 : 0 }
            case .uint8: return v.visit(raw.bindMemory(to: UInt8.self)) { Double($0) }
            case .int8: return v.visit(raw.bindMemory(to: Int8.self)) { Double($0) }
            case .uint16: return v.visit(raw.bindMemory(to: UInt16.self)) { Double($0) }
            case .int16: return v.visit(raw.bindMemory(to: Int16.self)) { Double($0) }
            case .uint32: return v.visit(raw.bindMemory(to: UInt32.self)) { Double($0) }
            case .int32: return v.visit(raw.bindMemory(to: Int32.self)) { Double($0) }
            case .uint64: return v.visit(raw.bindMemory(to: UInt64.self)) { Double($0) }
            case .int64: return v.visit(raw.bindMemory(to: Int64.self)) { Double($0) }
            case .float16: return v.visit(raw.bindMemory(to: Float16.self)) { Double($0) }
            case .float32: return v.visit(raw.bindMemory(to: Float.self)) { Double($0) }
            case .float64: return v.visit(raw.bindMemory(to: Double.self)) { $0 }
            }
        }
    }

    /// Smallest and largest element as Double (nil for an empty array); NaNs are skipped.
    public func range() -> (min: Double, max: Double)? { rangeAndNaNs().range }

    /// `range()` and the number of NaN elements, in one pass over the values.
    public func rangeAndNaNs() -> (range: (min: Double, max: Double)?, nans: Int) {
        // Element by element in the stored type: no Double copy of the array (600 MB for a
        // 300x512x512 volume).
        struct Scan: ElementVisitor {
            func visit<T>(_ p: UnsafeBufferPointer<T>, _ g: (T) -> Double) -> (range: (min: Double, max: Double)?, nans: Int) {
                var lo = Double.infinity, hi = -Double.infinity, nans = 0
                for x in p {
                    let v = g(x)
                    if v.isNaN { nans += 1; continue }
                    if v < lo { lo = v }
                    if v > hi { hi = v }
                }
                return (lo <= hi ? (lo, hi) : nil, nans)
            }
        }
        return visitElements(Scan())
    }

    /// The smallest and largest element of an int64 or uint64 array as written in full (their
    /// Doubles round above 2^53); nil for other dtypes and empty arrays.
    public func wideIntegerRange() -> (min: String, max: String)? {
        func span<T: FixedWidthInteger>(_: T.Type) -> (min: String, max: String)? {
            storage.withUnsafeBytes { raw in
                let p = raw.bindMemory(to: T.self)
                guard let lo = p.min(), let hi = p.max() else { return nil }
                return (String(lo), String(hi))
            }
        }
        switch dtype {
        case .int64: return span(Int64.self)
        case .uint64: return span(UInt64.self)
        default: return nil
        }
    }

    /// The number of distinct values, counted up to `limit + 1` (then it stops), without a copy
    /// of the array (a Double copy of a 512x512x800 volume took 1.7 GB in `info`).
    public func distinctValues(upTo limit: Int) -> Int {
        struct Count: ElementVisitor {
            let limit: Int
            func visit<T>(_ p: UnsafeBufferPointer<T>, _ g: (T) -> Double) -> Int {
                var seen = Set<UInt64>(), last: UInt64? = nil
                for x in p {
                    let bits = g(x).bitPattern   // any value, 2^63 and above too
                    if bits == last { continue }   // runs of one value are common
                    last = bits
                    seen.insert(bits)
                    if seen.count > limit { break }
                }
                return seen.count
            }
        }
        return visitElements(Count(limit: limit))
    }

    /// How many elements hold each label 0...65535, or the first value that is no label
    /// (negative, fractional, above 65535, NaN), without a copy of the array.
    public func labelHistogram() -> Result<[Int], LabelValueError> {
        struct Histogram: ElementVisitor {
            func visit<T>(_ p: UnsafeBufferPointer<T>, _ g: (T) -> Double) -> Result<[Int], LabelValueError> {
                var counts = [Int](repeating: 0, count: 65536)
                for x in p {
                    let v = g(x)
                    guard LabelMap.isLabel(v) else { return .failure(LabelValueError(value: v)) }
                    counts[Int(v)] += 1
                }
                return .success(counts)
            }
        }
        return visitElements(Histogram())
    }
}

/// A value an array holds that no label can be.
public struct LabelValueError: Error, CustomStringConvertible {
    public let value: Double
    public var description: String { "a label map holds \(valueText(value)), but labels must be whole numbers from 0 to 65535" }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work over an array's elements in their stored type (`NDArray.visitElements`).
private protocol ElementVisitor {
    associatedtype Result
    func visit<T>(_ p: UnsafeBufferPointer<T>, _ g: (T) -> Double) -> Result
}

/// Every element converted by `f` (from its value as Double).
private struct ConvertElements<R>: ElementVisitor {
    let f: (Double) -> R
    func visit<T>(_ p: UnsafeBufferPointer<T>, _ g: (T) -> Double) -> [R] { p.map { f(g($0)) } }
}
