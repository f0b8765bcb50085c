// Exact Euclidean distance transform with anisotropic spacing, in linear time: the separable
// lower-envelope-of-parabolas algorithm (Felzenszwalb & Huttenlocher, "Distance Transforms of
// Sampled Functions", 2012), one pass per axis.

public enum DistanceTransform {
    /// Squared distances from every point of a [n0, n1, n2] grid to the nearest site
    /// (`sites[i] == true`), with voxel size `spacing` per axis; +infinity when there is no site.
    /// Per axis the sum is accumulated in axis order as ((d0 s0)^2 + (d1 s1)^2) + (d2 s2)^2,
    /// the order scipy's distance_transform_edt uses, so distances agree to the last bit.
    public static func squared(sites: [Bool], shape: [Int], spacing: [Double]) -> [Double] {
        precondition(shape.count == 3 && spacing.count == 3 && sites.count == shape.reduce(1, *))
        var f = sites.map { $0 ? 0.0 : Double.infinity }
        let strides = [shape[1] * shape[2], shape[2], 1]
        let maxLen = shape.max() ?? 0
        var line = [Double](repeating: 0, count: maxLen)
        var out = [Double](repeating: 0, count: maxLen)
        var v = [Int](repeating: 0, count: maxLen)
        var z = [Double](repeating: 0, count: maxLen + 1)
        for axis in 0..<3 {
            let n = shape[axis], stride = strides[axis], w = spacing[axis]
            // Every line along `axis`: its start is a point whose `axis` coordinate is 0.
            let others = (0..<3).filter { $0 != axis }
            let (a, b) = (others[0], others[1])
            for i in 0..<shape[a] {
                for j in 0..<shape[b] {
                    let start = i * strides[a] + j * strides[b]
                    var any = false
                    for p in 0..<n {
                        line[p] = f[start + p * stride]
                        if line[p] < .infinity { any = true }
                    }
                    if !any { continue }
                    envelope(line, n: n, w: w, out: &out, v: &v, z: &z)
                    for p in 0..<n { f[start + p * stride] = out[p] }
                }
            }
        }
        return f
    }

    /// One dimension: out[p] = min_q line[q] + (w (p - q))^2 over q with finite line[q].
    static func envelope(_ f: [Double], n: Int, w: Double, out: inout [Double], v: inout [Int], z: inout [Double]) {
        var k = -1
        let w2 = w * w
        for q in 0..<n where f[q] < .infinity {
            let fq = f[q] + w2 * Double(q) * Double(q)
            var s = -Double.infinity
            while k >= 0 {
                let r = v[k]
                s = (fq - (f[r] + w2 * Double(r) * Double(r))) / (2 * w2 * Double(q - r))
                if s <= z[k] { k -= 1 } else { break }
            }
            k += 1
            v[k] = q
            z[k] = k == 0 ? -Double.infinity : s
            z[k + 1] = .infinity
        }
        var j = 0
        for p in 0..<n {
            while z[j + 1] < Double(p) { j += 1 }
            let d = w * Double(p - v[j])
            out[p] = f[v[j]] + d * d
        }
    }

    /// The plain twin: nearest site by exhaustive search (for tests on small grids).
    public static func squaredBruteForce(sites: [Bool], shape: [Int], spacing: [Double]) -> [Double] {
        let (n0, n1, n2) = (shape[0], shape[1], shape[2])
        let siteList = sites.indices.filter { sites[$0] }.map { ($0 / (n1 * n2), ($0 / n2) % n1, $0 % n2) }
        var out = [Double](repeating: .infinity, count: sites.count)
        for i in 0..<n0 { for j in 0..<n1 { for k in 0..<n2 {
            var best = Double.infinity
            for (a, b, c) in siteList {
                let d0 = Double(i - a) * spacing[0], d1 = Double(j - b) * spacing[1], d2 = Double(k - c) * spacing[2]
                best = min(best, (d0 * d0 + d1 * d1) + d2 * d2)
            }
            out[(i * n1 + j) * n2 + k] = best
        } } }
        return out
    }
}
