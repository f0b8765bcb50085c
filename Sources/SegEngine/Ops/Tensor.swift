// The engine's one array type. Row-major float32; feature maps are channels-last (HWC), so a
// 1x1 convolution or a linear layer is one matrix product over the pixels (tokens).

/// A float32 tensor in row-major order. Feature maps are [H, W, C]; token matrices [N, C].
public struct Tensor: Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "Tensor: shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A tensor whose contents the caller fills in completely (no zeroing pass).
    public init(uninitialized shape: [Int]) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: n) { _, c in c = n }
    }

    public var count: Int { data.count }
    /// Size of the last axis (channels or features).
    public var lastDim: Int { shape.last ?? 1 }
    /// Number of rows when viewed as a matrix [count / lastDim, lastDim].
    public var rows: Int { count / max(lastDim, 1) }

    /// The same values viewed with another shape of equal size.
    public func reshaped(_ s: [Int]) -> Tensor { Tensor(shape: s, data: data) }
}
