// Layer normalisation over the last axis. LayerNorm2d on a channels-last map is the same
// operation (normalising each pixel's channels), with eps 1e-6 instead of 1e-5.

/// nn.LayerNorm / LayerNorm2d parameters. weight, bias: [C].
public struct LayerNorm: Sendable {
    public let weight: [Float]
    public let bias: [Float]
    public let eps: Float
    /// Bias 0 (as after folding it into the next int8 product): the norm an int8 product can
    /// apply inside its quantization.
    let biasFree: Bool

    public init(weight: [Float], bias: [Float], eps: Float) {
        precondition(weight.count == bias.count)
        self.weight = weight
        self.bias = bias
        self.eps = eps
        biasFree = bias.allSatisfy { $0 == 0 }
    }

    public var features: Int { weight.count }

    /// Normalises each row of `x` ([N, C]) in place.
    public func apply(_ x: inout Tensor) {
        Profile.measure("layernorm") { normalise(&x) }
    }

    func normalise(_ x: inout Tensor) {
        let c = features
        precondition(x.lastDim == c, "LayerNorm over \(c) features applied to shape \(x.shape)")
        let rows = x.rows
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                x.data.withUnsafeMutableBufferPointer { p in
                    Parallel.chunks(rows, minChunk: 64) { r in
                        let v = p.baseAddress! + r.lowerBound * c
                        self.rows(v, count: r.count, out: v)
                    }
                }
            }
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        apply(&y)
        return y
    }

    /// The plain twin, in Double.
    public func reference(_ x: Tensor) -> Tensor {
        let c = features
        var out = x
        for row in 0..<x.rows {
            let v = (0..<c).map { Double(x.data[row * c + $0]) }
            let mean = v.reduce(0, +) / Double(c)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            for j in 0..<c {
                out.data[row * c + j] = Float((v[j] - mean) / (variance + Double(eps)).squareRoot() * Double(weight[j]) + Double(bias[j]))
            }
        }
        return out
    }
}
