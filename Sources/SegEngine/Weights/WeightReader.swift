// Strict weight loading: every key the model asks for must exist with the expected shape, and
// every key in the checkpoint must be used (or be declared as unused, like the mask-prompt
// layers medseg never runs). Errors name the key and both shapes (DESIGN rule 5).

/// A weight-loading problem, turned into one line at the edge.
public struct WeightError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Hands out named tensors from a state dict and remembers which ones were taken.
public final class WeightReader {
    private let tensors: [String: TensorData]
    private let order: [String]
    private var taken = Set<String>()
    /// The arithmetic of the matrix products built from these weights.
    public let precision: Precision

    public init(tensors: [String: TensorData], order: [String], precision: Precision = .fp32) {
        self.tensors = tensors
        self.order = order
        self.precision = precision
    }

    /// The values of `key`, which must have exactly `shape`.
    public func take(_ key: String, _ shape: [Int]) throws -> [Float] {
        guard let t = tensors[key] else { throw WeightError("missing weight '\(key)' (expected shape \(shape))") }
        guard t.shape == shape else {
            throw WeightError("weight '\(key)' has shape \(t.shape), expected \(shape)")
        }
        // A NaN or infinite weight (a diverged fine-tune) would turn every mask into noise.
        // (An exponent of all ones is NaN or infinity; an integer minimum vectorises.)
        var finite: UInt32 = .max
        for v in t.values { finite = min(finite, ~v.bitPattern & 0x7f80_0000) }
        guard finite != 0 else { throw WeightError("weight '\(key)' holds NaN or infinite values") }
        taken.insert(key)
        return t.values
    }

    /// Marks keys under `prefix` as known but unused (e.g. layers for prompts medseg never gives).
    public func skip(prefix: String) {
        for k in order where k.hasPrefix(prefix) { taken.insert(k) }
    }

    /// A reader whose keys are relative to `prefix` + ".".
    public func scope(_ prefix: String) -> WeightScope { WeightScope(reader: self, prefix: prefix, precision: precision) }

    /// Fails when the checkpoint holds keys the model did not take.
    public func finish() throws {
        let unknown = order.filter { !taken.contains($0) }
        if !unknown.isEmpty {
            let shown = unknown.prefix(5).map { "'\($0)' \(tensors[$0]!.shape)" }.joined(separator: ", ")
            throw WeightError("unknown weight\(unknown.count == 1 ? "" : "s") in checkpoint: \(shown)\(unknown.count > 5 ? " and \(unknown.count - 5) more" : "")")
        }
    }
}

/// A view of a `WeightReader` under a key prefix, mirroring the PyTorch module tree.
public struct WeightScope {
    let reader: WeightReader
    let prefix: String
    /// The arithmetic of the products built under this scope.
    public let precision: Precision

    public func callAsFunction(_ key: String, _ shape: [Int]) throws -> [Float] {
        try reader.take(prefix + "." + key, shape)
    }

    public func scope(_ sub: String) -> WeightScope { WeightScope(reader: reader, prefix: prefix + "." + sub, precision: precision) }
    /// The same scope with its products in fp32.
    public func float() -> WeightScope { WeightScope(reader: reader, prefix: prefix, precision: .fp32) }
    /// The same scope for layers too sensitive for int8: in an int8 model their products run in
    /// bf16 where the CPU has bf16 dot products, else in fp32; otherwise as the scope says.
    public func sensitive() -> WeightScope {
        WeightScope(reader: reader, prefix: prefix, precision: precision == .int8 ? (CPUFeatures.bf16 ? .bf16 : .fp32) : precision)
    }
    public func scope(_ sub: Int) -> WeightScope { scope(String(sub)) }

    /// nn.Linear: weight [out, in], bias [out].
    public func linear(_ name: String, in i: Int, out o: Int, bias: Bool = true) throws -> Linear {
        let s = scope(name)
        return Linear(weight: try s("weight", [o, i]), bias: bias ? try s("bias", [o]) : nil, inFeatures: i, outFeatures: o, precision: s.precision)
    }

    /// nn.LayerNorm / LayerNorm2d: weight and bias [C].
    public func layerNorm(_ name: String, _ c: Int, eps: Float) throws -> LayerNorm {
        let s = scope(name)
        return LayerNorm(weight: try s("weight", [c]), bias: try s("bias", [c]), eps: eps)
    }

    /// TinyViT's Conv2d_BN (`c` conv without bias, `bn` BatchNorm2d eps 1e-5) folded into one
    /// convolution: w * g / sqrt(var + eps), b - mean * g / sqrt(var + eps).
    /// Returns the folded weight (PyTorch layout [out, in/groups, k, k]) and bias [out].
    public func conv2dBN(_ name: String, in i: Int, out o: Int, kernel k: Int, groups: Int = 1) throws -> (weight: [Float], bias: [Float]) {
        let s = scope(name)
        var w = try s.scope("c")("weight", [o, i / groups, k, k])
        let bn = s.scope("bn")
        let g = try bn("weight", [o]), b = try bn("bias", [o])
        let mean = try bn("running_mean", [o]), variance = try bn("running_var", [o])
        _ = try bn("num_batches_tracked", [])
        let per = w.count / o
        var bias = [Float](repeating: 0, count: o)
        for c in 0..<o {
            let f = Double(g[c]) / (Double(variance[c]) + 1e-5).squareRoot()
            for j in 0..<per { w[c * per + j] = Float(Double(w[c * per + j]) * f) }
            bias[c] = Float(Double(b[c]) - Double(mean[c]) * f)
        }
        return (w, bias)
    }
}
