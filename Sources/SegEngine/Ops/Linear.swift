// A fully connected layer, also every 1x1 convolution on a channels-last map.

/// y = x W^T + b. weight: [out, in] (PyTorch layout), bias: [out] or none.
public struct Linear: Sendable {
    public let weight: [Float]
    public let bias: [Float]?
    /// The bias, or zeros: for epilogues that add it unconditionally.
    let biasOrZero: [Float]
    public let inFeatures: Int
    public let outFeatures: Int
    /// The int8 weights when the layer runs in int8 (then `weight` is kept for reference twins).
    public let int8: Int8Weights?
    /// The bf16 weights and product when the layer runs in bf16.
    public let bf16: Bf16Weights?

    public init(weight: [Float], bias: [Float]?, inFeatures: Int, outFeatures: Int, precision: Precision = .fp32) {
        precondition(weight.count == inFeatures * outFeatures && (bias?.count ?? outFeatures) == outFeatures)
        self.weight = weight
        self.bias = bias
        biasOrZero = bias ?? [Float](repeating: 0, count: outFeatures)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        int8 = precision == .int8 ? Int8Weights.make(weight: weight, outFeatures: outFeatures, inFeatures: inFeatures) : nil
        bf16 = precision == .bf16 ? Bf16Weights(weight: weight, outFeatures: outFeatures, inFeatures: inFeatures) : nil
    }

    /// Whether the products run in int8 or bf16 (their inputs are rounded to 8 bits of precision).
    var lowPrecision: Bool { int8 != nil || bf16 != nil }

    /// Applies the layer to the rows of `x` ([..., in] -> [..., out]).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if lowPrecision { return self(x, epilogue: .none) }
        return Profile.measure("matmul") { apply(x) }
    }

    /// The product on rows `selected` of x (all by default), by the multi-threaded BLAS.
    func apply(_ x: Tensor, rows selected: Range<Int>? = nil) -> Tensor {
        precondition(x.lastDim == inFeatures, "Linear \(inFeatures)->\(outFeatures) applied to shape \(x.shape)")
        let span = selected ?? 0..<x.rows, rows = span.count
        var y = Tensor(uninitialized: selected == nil ? Array(x.shape.dropLast()) + [outFeatures] : [rows, outFeatures])
        y.data.withUnsafeMutableBufferPointer { c in
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    for r in 0..<rows { (c.baseAddress! + r * outFeatures).update(from: b.baseAddress!, count: outFeatures) }
                }
            }
            x.data.withUnsafeBufferPointer { a in
                weight.withUnsafeBufferPointer { w in
                    Gemm.sgemm(m: rows, n: outFeatures, k: inFeatures, a: a.baseAddress! + span.lowerBound * inFeatures, lda: inFeatures,
                               b: w.baseAddress!, ldb: inFeatures, transB: true,
                               c: c.baseAddress!, ldc: outFeatures, beta: bias == nil ? 0 : 1)
                }
            }
        }
        return y
    }

    /// The plain twin, in Double.
    public func reference(_ x: Tensor) -> Tensor {
        let rows = x.rows
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var s = Double(bias?[o] ?? 0)
                for i in 0..<inFeatures { s += Double(x.data[r * inFeatures + i]) * Double(weight[o * inFeatures + i]) }
                y.data[r * outFeatures + o] = Float(s)
            }
        }
        return y
    }
}
