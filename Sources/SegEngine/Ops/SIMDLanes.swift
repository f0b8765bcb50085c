// 16-float loads and stores at any alignment, and the largest and smallest lane of a float
// vector by halving. The standard library's max() and min() on SIMD vectors go lane by lane
// through NaN checks (measured: as slow as the pass over the row they summarise); these lanes
// are finite.

extension SIMD8 where Scalar == Float {
    @inline(__always) var largestLane: Float {
        var a = lowHalf
        let b = highHalf
        a.replace(with: b, where: b .> a)
        return Swift.max(Swift.max(a[0], a[1]), Swift.max(a[2], a[3]))
    }

    @inline(__always) var smallestLane: Float {
        var a = lowHalf
        let b = highHalf
        a.replace(with: b, where: b .< a)
        return Swift.min(Swift.min(a[0], a[1]), Swift.min(a[2], a[3]))
    }
}

extension SIMD16 where Scalar == Float {
    @inline(__always) var largestLane: Float {
        var a = lowHalf
        let b = highHalf
        a.replace(with: b, where: b .> a)
        return a.largestLane
    }
}

/// 16 floats from `p` (any alignment).
@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

/// Writes the 16 lanes of `v` to `p` (any alignment).
@inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}
