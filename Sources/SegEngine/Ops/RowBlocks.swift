// Row-blocked execution: each worker takes a contiguous share of a token matrix's rows and runs
// a whole chain of row-wise work (norm, matrix product, bias, activation, next product, residual)
// on blocks of a few dozen rows, so intermediate results stay in cache instead of making full
// passes over memory between ops.
import Dispatch

public enum RowBlocks {
    /// Calls `body(rows, scratch)` for blocks of at most `blockRows` rows covering 0..<rows.
    /// Workers split the rows; each has its own `scratchFloats`-float scratch buffer.
    public static func run(rows: Int, blockRows: Int, scratchFloats: Int,
                           _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let workers = min(Parallel.threads, max(1, (rows + blockRows - 1) / blockRows))
        let share = (rows + workers - 1) / workers
        func work(_ p: Int) {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
            defer { scratch.deallocate() }
            var r = p * share
            let end = min(rows, r + share)
            while r < end {
                let n = min(blockRows, end - r)
                body(r..<(r + n), scratch)
                r += n
            }
        }
        if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers) { work($0) } }
    }

    /// Rows per block: about 1 MB of the widest intermediate row (cache-resident), and at least
    /// 64 rows where possible so the BLAS's weight packing is amortised (measured: 32 KB blocks
    /// and whole-share blocks were both slower; docs/DECISIONS.md).
    public static func blockRows(widestRow: Int) -> Int {
        max(64, min(512, (262_144 / max(widestRow, 1)) & ~7))
    }
}

/// What to do with a linear layer's output block after the product (and bias).
public enum Epilogue: Sendable {
    case none
    case gelu
}

extension Linear {
    /// out[r] = epilogue(x[r] W^T + b) for `count` rows, single-threaded (called inside RowBlocks).
    /// Rows of x are `inFeatures` apart; rows of out `ldOut` apart.
    @inline(__always)
    /// With `residual` (rows `ldOut` apart), out = epilogue(residual + x W^T + b).
    func rows(_ x: UnsafePointer<Float>, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
              residual: UnsafePointer<Float>? = nil, epilogue: Epilogue) {
        if let int8 {
            int8Rows(int8, x, count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue)
            return
        }
        if let bf16 {
            bf16Rows(bf16, x, count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue)
            return
        }
        let o = outFeatures
        if let residual {
            for r in 0..<count { (out + r * ldOut).update(from: residual + r * ldOut, count: o) }
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    for r in 0..<count { let row = out + r * ldOut; for j in 0..<o { row[j] += b[j] } }
                }
            }
        } else if let bias {
            bias.withUnsafeBufferPointer { b in
                for r in 0..<count { (out + r * ldOut).update(from: b.baseAddress!, count: o) }
            }
        }
        weight.withUnsafeBufferPointer { w in
            Gemm.single(m: count, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, transA: false,
                        b: w.baseAddress!, ldb: inFeatures, transB: true, c: out, ldc: ldOut,
                        alpha: 1, beta: bias == nil && residual == nil ? 0 : 1)
        }
        if case .gelu = epilogue {
            for r in 0..<count {
                let o = out + r * ldOut
                for j in 0..<outFeatures { o[j] = Activations.geluScalar(o[j]) }
            }
        }
    }

    /// out[r] = epilogue(out[r] + b (+ residual[r])) in place, for `count` rows holding a raw
    /// matrix product (the bf16 path).
    @inline(__always)
    func finishRows(count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int, residual: UnsafePointer<Float>?, epilogue: Epilogue) {
        finishRows(FloatProduct(rows: UnsafePointer(out), ld: ldOut), count: count, out: out, ldOut: ldOut, residual: residual, epilogue: epilogue)
    }

    /// out[r] = epilogue(product[r] + b (+ residual[r])): one pass per row, the four variants
    /// branch-free inside. Shared by the int8 path (which dequantizes its int32 products here)
    /// and the bf16 path (float products, in place); both take the shorter GELU.
    @inline(__always)
    func finishRows<P: RawProduct>(_ product: P, count: Int, out: UnsafeMutablePointer<Float>, ldOut: Int,
                                   residual: UnsafePointer<Float>?, epilogue: Epilogue) {
        let n = outFeatures, gelu = epilogue == .gelu
        biasOrZero.withUnsafeBufferPointer { bp in
            let b = bp.baseAddress!
            for r in 0..<count {
                let o = out + r * ldOut, p = product.row(r)
                switch (residual.map { $0 + r * ldOut }, gelu) {
                case (nil, false): for j in 0..<n { o[j] = p[j] + b[j] }
                case (nil, true): for j in 0..<n { o[j] = Activations.geluFast(p[j] + b[j]) }
                case (let res?, false): for j in 0..<n { o[j] = p[j] + b[j] + res[j] }
                case (let res?, true): for j in 0..<n { o[j] = Activations.geluFast(p[j] + b[j] + res[j]) }
                }
            }
        }
    }

    /// epilogue(x W^T + b), row-blocked across workers (bias and activation applied while in cache).
    /// With `residual` (same shape as the output): epilogue(residual + x W^T + b).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil, epilogue: Epilogue) -> Tensor {
        precondition(x.lastDim == inFeatures, "Linear \(inFeatures)->\(outFeatures) applied to shape \(x.shape)")
        return blocked(x, rows: 0..<x.rows, shape: Array(x.shape.dropLast()) + [outFeatures], residual: residual, epilogue: epilogue)
    }

    /// The layer on rows `rows` of `x` (read where they are, not copied), its output [rows, out]
    /// shaped as `shape`.
    func callAsFunction(_ x: Tensor, rows: Range<Int>, shape: [Int]) -> Tensor {
        precondition(x.lastDim == inFeatures && rows.upperBound <= x.rows && shape.reduce(1, *) == rows.count * outFeatures)
        if lowPrecision { return blocked(x, rows: rows, shape: shape, residual: nil, epilogue: .none) }
        return Profile.measure("matmul") { apply(x, rows: rows).reshaped(shape) }
    }

    private func blocked(_ x: Tensor, rows selected: Range<Int>, shape: [Int], residual: Tensor?, epilogue: Epilogue) -> Tensor {
        Profile.measure("matmul") {
            var y = Tensor(uninitialized: shape)
            let rows = selected.count, o = outFeatures
            if let residual { precondition(residual.shape == y.shape, "residual \(residual.shape) vs output \(y.shape)") }
            let res = residual ?? Tensor(zeros: [0])
            x.data.withUnsafeBufferPointer { xp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    res.data.withUnsafeBufferPointer { rp in
                        let xb = xp.baseAddress! + selected.lowerBound * inFeatures, yb = yp.baseAddress!, rb = rp.baseAddress
                        RowBlocks.run(rows: rows, blockRows: RowBlocks.blockRows(widestRow: o), scratchFloats: 0) { r, _ in
                            self.rows(xb + r.lowerBound * inFeatures, count: r.count, out: yb + r.lowerBound * o, ldOut: o,
                                      residual: residual == nil ? nil : rb! + r.lowerBound * o, epilogue: epilogue)
                        }
                    }
                }
            }
            return y
        }
    }
}

extension LayerNorm {
    /// Normalises `count` rows from `x` into `out` (both `features` floats per row), single-threaded.
    @inline(__always)
    func rows(_ x: UnsafePointer<Float>, count: Int, out: UnsafeMutablePointer<Float>) {
        let c = features
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                for row in 0..<count {
                    let v = x + row * c, o = out + row * c
                    let mean = LayerNorm.sum(v, c) / Float(c)
                    var acc = SIMD8<Float>(), j = 0
                    while j + 8 <= c {
                        let d = UnsafeRawPointer(v + j).loadUnaligned(as: SIMD8<Float>.self) - mean
                        acc += d * d; j += 8
                    }
                    var varsum = acc.sum()
                    while j < c { let d = v[j] - mean; varsum += d * d; j += 1 }
                    let inv = 1 / (varsum / Float(c) + eps).squareRoot()
                    for j in 0..<c { o[j] = (v[j] - mean) * inv * w[j] + b[j] }
                }
            }
        }
    }

    @inline(__always) static func sum(_ v: UnsafePointer<Float>, _ c: Int) -> Float {
        var acc = SIMD8<Float>(), j = 0
        while j + 8 <= c { acc += UnsafeRawPointer(v + j).loadUnaligned(as: SIMD8<Float>.self); j += 8 }
        var s = acc.sum()
        while j < c { s += v[j]; j += 1 }
        return s
    }
}

/// Rows of a raw matrix product, as `finishRows` reads them.
protocol RawProduct {
    associatedtype Row: RawProductRow
    func row(_ r: Int) -> Row
}

protocol RawProductRow {
    subscript(_ j: Int) -> Float { get }
}

/// Float products, `ld` apart.
struct FloatProduct: RawProduct {
    struct Row: RawProductRow {
        let p: UnsafePointer<Float>
        @inline(__always) subscript(_ j: Int) -> Float { p[j] }
    }
    let rows: UnsafePointer<Float>
    let ld: Int
    @inline(__always) func row(_ r: Int) -> Row { Row(p: rows + r * ld) }
}
