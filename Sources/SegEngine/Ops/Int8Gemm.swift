// Int8 matrix products: activations quantized per row (dynamic, asymmetric, u8), weights per
// output channel (symmetric, s8), products in oneDNN's u8s8s32 GEMM with int32 accumulation,
// dequantized with bias, residual and activation while the block is in cache
// (docs/DECISIONS.md, "Int8 with dynamic per-row activation scales").
import CDnnl

/// Which arithmetic the model's matrix products use.
public enum Precision: String, Sendable, CaseIterable {
    case fp32, int8
    /// bf16 products with float accumulation: what the int8 engine runs its int8-sensitive layers
    /// in where the CPU has bf16 dot products (`WeightScope.sensitive()`).
    case bf16

    /// int8 where the CPU has VNNI (full 8-bit activations; agreement with fp32 in
    /// docs/DECISIONS.md); fp32 elsewhere, where int8 activations have 7 bits and agree less.
    public static var preferred: Precision { CPUFeatures.vnni ? .int8 : .fp32 }
}

/// A linear layer's weights in int8: w[o][i] ≈ scales[o] * values[o][i].
public struct Int8Weights: Sendable {
    public let values: [Int8]      // [out][in]
    public let scales: [Float]     // [out]
    public let columnSums: [Float] // sum_i values[o][i], for the activations' zero points

    public init(weight: [Float], outFeatures o: Int, inFeatures k: Int) {
        var q = [Int8](repeating: 0, count: o * k)
        var scales = [Float](repeating: 1, count: o), sums = [Float](repeating: 0, count: o)
        for r in 0..<o {
            var m: Float = 0
            for i in 0..<k { m = max(m, abs(weight[r * k + i])) }
            let s = m > 0 ? m / 127 : 1
            var sum = 0
            for i in 0..<k {
                let v = Int8(max(-127, min(127, (weight[r * k + i] / s).rounded(.toNearestOrEven))))
                q[r * k + i] = v
                sum += Int(v)
            }
            scales[r] = s
            sums[r] = Float(sum)
        }
        values = q
        self.scales = scales
        columnSums = sums
    }

    public init(values: [Int8], scales: [Float], outFeatures o: Int, inFeatures k: Int) {
        precondition(values.count == o * k && scales.count == o)
        self.values = values
        self.scales = scales
        columnSums = (0..<o).map { r in Float((0..<k).reduce(0) { $0 + Int(values[r * k + $1]) }) }
    }
}

public enum Int8Gemm {
    /// The largest activation code. Without VNNI, oneDNN's u8s8 kernels add pairs of u8*s8
    /// products in 16 bits with saturation; 7-bit activations (0...127) keep those sums exact.
    public static let activationMax: Float = CPUFeatures.vnni ? 255 : 127

    /// Quantizes `count` rows of `k` floats (`ldx` apart) to codes q = round(x / scale) + zero,
    /// clamped to 0...activationMax, with each row's range widened to include 0.
    public static func quantizeRows(_ x: UnsafePointer<Float>, count: Int, k: Int, ldx: Int,
                                    codes: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<Float>,
                                    zeros: UnsafeMutablePointer<Float>) {
        for r in 0..<count {
            let v = x + r * ldx, q = codes + r * k
            let (lo, hi) = range(v, count: k)
            (scales[r], zeros[r]) = scaleAndZero(lo, hi)
            writeCodes(v, k: k, times: 1 / scales[r], plus: zeros[r], into: q)
        }
    }

    /// The smallest and largest of `count` floats and 0. Computed as integer reductions over
    /// order-preserving keys of the float bits (vectorised; float min/max with NaN rules are not).
    @inline(__always) static func range(_ v: UnsafePointer<Float>, count: Int) -> (lo: Float, hi: Float) {
        var lo: Int32 = 0, hi: Int32 = 0   // the keys of +0: the range always includes 0
        for j in 0..<count {
            let i = Int32(bitPattern: v[j].bitPattern)
            let key = i ^ ((i >> 31) & 0x7fff_ffff)
            lo = Swift.min(lo, key); hi = Swift.max(hi, key)
        }
        return (orderedKeyToFloat(lo), orderedKeyToFloat(hi))
    }

    /// The scale and zero point of a row whose values span lo...hi (a range that includes 0).
    @inline(__always) static func scaleAndZero(_ lo: Float, _ hi: Float) -> (scale: Float, zero: Float) {
        let scale = hi > lo ? (hi - lo) / activationMax : 1
        return (scale, (-lo / scale).rounded(.toNearestOrEven))
    }

    /// q[j] = round(clamp(v[j] * a + b, 0, activationMax)). A scalar loop the compiler
    /// vectorises: clamp, then round to nearest even by adding 1.5 * 2^23, whose low mantissa
    /// bits are then the code (Swift's generic SIMD conversions were 10x slower than the product).
    @inline(__always) static func writeCodes(_ v: UnsafePointer<Float>, k: Int, times a: Float, plus b: Float,
                                             into q: UnsafeMutablePointer<UInt8>) {
        let top = activationMax
        for j in 0..<k {
            let t = Swift.min(Swift.max(v[j] * a + b, 0), top)
            q[j] = UInt8(truncatingIfNeeded: (t + 12_582_912).bitPattern)
        }
    }

    /// `quantizeRows` of the bias-free LayerNorm (per-channel `weight`) of each row, without
    /// writing the normalised row: per row a sum pass, a pass for the variance and the range of
    /// (x - mean) * weight, and the codes as round((x - mean) * weight * a + zero), where a folds
    /// the normalisation into the quantization.
    public static func quantizeNormalizedRows(_ x: UnsafePointer<Float>, count: Int, k: Int, eps: Float,
                                              weight g: UnsafePointer<Float>,
                                              codes: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<Float>,
                                              zeros: UnsafeMutablePointer<Float>) {
        let top = activationMax
        for r in 0..<count {
            let v = x + r * k, q = codes + r * k
            let mean = LayerNorm.sum(v, k) / Float(k)
            var acc = SIMD8<Float>(), lo = SIMD8<Float>(), hi = lo, j = 0
            while j + 8 <= k {
                let d = UnsafeRawPointer(v + j).loadUnaligned(as: SIMD8<Float>.self) - mean
                let e = d * UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
                acc += d * d
                lo.replace(with: e, where: e .< lo)
                hi.replace(with: e, where: e .> hi)
                j += 8
            }
            var varsum = acc.sum(), mn = lo.smallestLane, mx = hi.largestLane
            while j < k { let d = v[j] - mean; varsum += d * d; mn = Swift.min(mn, d * g[j]); mx = Swift.max(mx, d * g[j]); j += 1 }
            let inv = 1 / (varsum / Float(k) + eps).squareRoot()
            let (scale, zero) = scaleAndZero(mn * inv, mx * inv)
            (scales[r], zeros[r]) = (scale, zero)
            let a = inv / scale
            for j in 0..<k {
                let t = Swift.min(Swift.max((v[j] - mean) * g[j] * a + zero, 0), top)
                q[j] = UInt8(truncatingIfNeeded: (t + 12_582_912).bitPattern)
            }
        }
    }

    @inline(__always) static func orderedKeyToFloat(_ key: Int32) -> Float {
        Float(bitPattern: UInt32(bitPattern: key ^ ((key >> 31) & 0x7fff_ffff)))
    }

    /// acc[m,n] = codes[m,k] · values[n,k]^T in int32, single-threaded.
    public static func gemm(m: Int, n: Int, k: Int, codes: UnsafePointer<UInt8>, weights: UnsafePointer<Int8>,
                            acc: UnsafeMutablePointer<Int32>) {
        var co: Int32 = 0
        // Single-threaded inside our workers: oneDNN would otherwise split the product over its
        // own OpenMP threads as well, nested inside ours.
        omp_set_num_threads(1)
        _ = dnnl_gemm_u8s8s32(78, 84, 70, Int64(m), Int64(n), Int64(k), 1, codes, Int64(k), 0,
                              weights, Int64(k), 0, 0, acc, Int64(n), &co)
    }
}

extension Linear {
    /// The int8 twin of `rows`: out[r] = epilogue(residual[r] + dequant(q(x[r]) · Wq^T) + b);
    /// with `normalizing`, a bias-free LayerNorm, x[r] is first normalised by it (in the quantization).
    func int8Rows(_ q: Int8Weights, _ x: UnsafePointer<Float>, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
                  residual: UnsafePointer<Float>?, epilogue: Epilogue, normalizing norm: LayerNorm? = nil) {
        let k = inFeatures
        int8Rows(q, count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue) { codes, rowScale, rowZero in
            if let norm {
                precondition(norm.biasFree && norm.features == k)
                norm.weight.withUnsafeBufferPointer { g in
                    Int8Gemm.quantizeNormalizedRows(x, count: count, k: k, eps: norm.eps, weight: g.baseAddress!,
                                                    codes: codes, scales: rowScale, zeros: rowZero)
                }
            } else {
                Int8Gemm.quantizeRows(x, count: count, k: k, ldx: k, codes: codes, scales: rowScale, zeros: rowZero)
            }
        }
    }

    /// `int8Rows` of `count` rows whose codes, scales and zero points `quantize` writes
    /// (count x inFeatures codes, count scales, count zero points).
    @inline(__always)
    func int8Rows(_ q: Int8Weights, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
                  residual: UnsafePointer<Float>?, epilogue: Epilogue,
                  quantize: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let k = inFeatures, n = outFeatures
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: count * k)
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: count * n)
        let rowScale = UnsafeMutablePointer<Float>.allocate(capacity: 2 * count)
        defer { codes.deallocate(); acc.deallocate(); rowScale.deallocate() }
        let rowZero = rowScale + count
        quantize(codes, rowScale, rowZero)
        q.values.withUnsafeBufferPointer { w in
            Int8Gemm.gemm(m: count, n: n, k: k, codes: codes, weights: w.baseAddress!, acc: acc)
        }
        q.scales.withUnsafeBufferPointer { wsp in
            q.columnSums.withUnsafeBufferPointer { csp in
                let product = Int8Product(acc: UnsafePointer(acc), n: n, rowScales: rowScale, rowZeros: rowZero,
                                          weightScales: wsp.baseAddress!, columnSums: csp.baseAddress!)
                finishRows(product, count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue)
            }
        }
    }

    /// The plain twin of the int8 path: the same quantization, written as scalar loops with
    /// integer products, for tests of `int8Rows`.
    public func int8Reference(_ x: Tensor) -> Tensor {
        guard let q = int8 else { return reference(x) }
        let k = inFeatures, n = outFeatures, top = Int8Gemm.activationMax
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [n])
        for r in 0..<x.rows {
            let row = Array(x.data[(r * k)..<(r * k + k)])
            let mn = min(0, row.min()!), mx = max(0, row.max()!)
            let scale = mx > mn ? (mx - mn) / top : 1
            let zero = (-mn / scale).rounded(.toNearestOrEven)
            let codes = row.map { Int(max(0, min(top, ($0 * (1 / scale) + zero).rounded(.toNearestOrEven)))) }
            for o in 0..<n {
                var dot = 0
                for i in 0..<k { dot += codes[i] * Int(q.values[o * k + i]) }
                let v = Double(dot) - Double(zero) * Double(q.columnSums[o])
                y.data[r * n + o] = Float(v * Double(scale) * Double(q.scales[o]) + Double(bias?[o] ?? 0))
            }
        }
        return y
    }
}

/// int32 products dequantized as they are read: (acc - zero_r * colsum) * (scale_r * wscale).
struct Int8Product: RawProduct {
    struct Row: RawProductRow {
        let a: UnsafePointer<Int32>, s: Float, z: Float, ws: UnsafePointer<Float>, cs: UnsafePointer<Float>
        @inline(__always) subscript(_ j: Int) -> Float { (Float(a[j]) - z * cs[j]) * (s * ws[j]) }
    }
    let acc: UnsafePointer<Int32>, n: Int
    let rowScales: UnsafePointer<Float>, rowZeros: UnsafePointer<Float>
    let weightScales: UnsafePointer<Float>, columnSums: UnsafePointer<Float>
    @inline(__always) func row(_ r: Int) -> Row {
        Row(a: acc + r * n, s: rowScales[r], z: rowZeros[r], ws: weightScales, cs: columnSums)
    }
}

extension Linear {
    /// out[r] = epilogue(norm(x[r]) W^T + b) for `count` rows, single-threaded. An int8 layer
    /// after a bias-free (folded) norm normalises inside its quantization; otherwise the norm
    /// writes `scratch` (count x inFeatures floats) first.
    @inline(__always)
    func normalizedRows(_ norm: LayerNorm, _ x: UnsafePointer<Float>, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
                        scratch: UnsafeMutablePointer<Float>, epilogue: Epilogue) {
        if let int8, norm.biasFree {
            int8Rows(int8, x, count: count, out: out, ldOut: ldOut, residual: nil, epilogue: epilogue, normalizing: norm)
        } else {
            norm.rows(x, count: count, out: scratch)
            rows(scratch, count: count, out: out, ldOut: ldOut, epilogue: epilogue)
        }
    }

    /// For an int8 layer that follows a LayerNorm: the norm's bias and the signs of its weight
    /// moved into this layer (W diag(sign g), b + W beta); the norm keeps the magnitudes |g|.
    /// The activations are then quantized with the scale of each channel (x^ |g|), and the
    /// weights keep their own columns: folding all of g into W made a few large columns set
    /// every row's int8 step, and the weights' rounding the larger part of the int8 error
    /// (docs/DECISIONS.md, "LayerNorm magnitudes stay on the activations"). Returns the
    /// bias-free norm and the folded layer; a float layer is returned unchanged, and for bf16
    /// the layer's bf16 twin with the norm as it is (bf16 rounds each value on its own scale).
    func foldingNorm(_ norm: LayerNorm, precision: Precision) -> (LayerNorm, Linear) {
        if precision == .bf16 { return (norm, Linear(weight: weight, bias: bias, inFeatures: inFeatures, outFeatures: outFeatures, precision: .bf16)) }
        guard precision == .int8 else { return (norm, self) }
        let k = inFeatures, n = outFeatures
        var w = weight, b = bias ?? [Float](repeating: 0, count: n)
        for o in 0..<n {
            var extra = 0.0
            for i in 0..<k {
                extra += Double(weight[o * k + i]) * Double(norm.bias[i])
                if norm.weight[i] < 0 { w[o * k + i] = -weight[o * k + i] }
            }
            b[o] += Float(extra)
        }
        let magnitudes = LayerNorm(weight: norm.weight.map(abs), bias: [Float](repeating: 0, count: k), eps: norm.eps)
        return (magnitudes, Linear(weight: w, bias: b, inFeatures: k, outFeatures: n, precision: .int8))
    }
}

extension Int8Weights {
    nonisolated(unsafe) static var recorded: [Int8Weights]? = nil
    nonisolated(unsafe) static var replay: [Int8Weights]? = nil
    nonisolated(unsafe) static var replayNext = 0
    nonisolated(unsafe) static var replayMismatch = false

    /// The int8 weights of a layer: the next block of a model file being loaded, else quantized
    /// from `weight`. Model construction is single-threaded; `recording` and `replaying` bracket it.
    static func make(weight: [Float], outFeatures o: Int, inFeatures k: Int) -> Int8Weights {
        if let blocks = replay {
            if replayNext < blocks.count, blocks[replayNext].scales.count == o, blocks[replayNext].values.count == o * k {
                replayNext += 1
                recorded?.append(blocks[replayNext - 1])
                return blocks[replayNext - 1]
            }
            replayMismatch = true
        }
        let w = Int8Weights(weight: weight, outFeatures: o, inFeatures: k)
        recorded?.append(w)
        return w
    }

    /// Runs `body` (which builds a model) and returns the int8 blocks it made, in order.
    static func recording(_ body: () throws -> Void) throws -> [Int8Weights] {
        recorded = []
        defer { recorded = nil }
        try body()
        return recorded ?? []
    }

    /// Runs `body` (which builds a model) serving it `blocks` in order; fails unless every layer
    /// got a block of its shape and every block was used.
    static func replaying<T>(_ blocks: [Int8Weights], _ body: () throws -> T) throws -> T {
        (replay, replayNext, replayMismatch) = (blocks, 0, false)
        defer { replay = nil }
        let model = try body()
        guard !replayMismatch, replayNext == blocks.count else {
            throw WeightError("the model file's int8 weights do not fit this medseg's model (\(replayNext) of \(blocks.count) used): run 'medseg convert' again")
        }
        return model
    }
}
