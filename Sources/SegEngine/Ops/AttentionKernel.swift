// Scaled dot-product attention for one head over small token sets, with an optional additive
// bias matrix. Used by TinyViT's window attention and SAM's two-way transformer.
// Vectorised over keys (scores against a transposed copy of K) and over the head dimension
// (the weighted sum of V rows).
#if canImport(Glibc)
import Glibc
#endif

public enum AttentionKernel {
    /// Floats of scratch space `run` needs for `nq` queries.
    public static func scratchCount(nq: Int, nk: Int, d: Int) -> Int { (nk + 16) * (d + nq + 1) }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// out[i] = sum_j softmax_j(scale * q[i].k[j] + bias[i, j]) v[j], for i < nq, j < nk.
    /// Rows of q, k, v and out are `d` floats, `*Stride` floats apart. `scratch` holds
    /// `scratchCount(nq:nk:d:)` floats. Large problems go to two single-threaded BLAS products
    /// (this runs inside the engine's parallel loops); small ones stay in register tiles.
    public static func run(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
                           v: UnsafePointer<Float>, vStride: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
                           nq: Int, nk: Int, d: Int, scale: Float, bias: UnsafePointer<Float>? = nil,
                           scratch: UnsafeMutablePointer<Float>) {
        let s = scratch  // [nq][nk] scores, then probabilities
        if nq * nk * d >= 1 << 15 && Gemm.backend != .reference {
            Gemm.single(m: nq, n: nk, k: d, a: q, lda: qStride, transA: false, b: k, ldb: kStride, transB: true,
                        c: s, ldc: nk, alpha: scale, beta: 0)
            softmaxRows(s, nq: nq, nk: nk, stride: nk, bias: bias)
            Gemm.single(m: nq, n: d, k: nk, a: s, lda: nk, transA: false, b: v, ldb: vStride, transB: false,
                        c: out, ldc: outStride, alpha: 1, beta: 0)
            return
        }
        let nkPad = (nk + 15) & ~15
        let kt = scratch                  // [d][nkPad]: K transposed, zero-padded
        let p = scratch + d * nkPad       // [nq][nkPad]: scores, then probabilities
        for j in 0..<nk { for t in 0..<d { kt[t * nkPad + j] = k[j * kStride + t] } }
        for t in 0..<d { for j in nk..<nkPad { kt[t * nkPad + j] = 0 } }
        scores(q: q, qStride: qStride, kt: kt, nkPad: nkPad, s: p, nq: nq, d: d, scale: scale)
        softmaxRows(p, nq: nq, nk: nk, stride: nkPad, bias: bias)
        weightedSum(p: p, nkPad: nkPad, v: v, vStride: vStride, out: out, outStride: outStride, nq: nq, nk: nk, d: d)
    }

    /// Softmax of each row's first `nk` values (bias added first), in place.
    static func softmaxRows(_ s: UnsafeMutablePointer<Float>, nq: Int, nk: Int, stride: Int, bias: UnsafePointer<Float>?) {
        for i in 0..<nq {
            let row = s + i * stride
            if let bias { let b = bias + i * nk; for j in 0..<nk { row[j] += b[j] } }
            Activations.softmaxRow(row, nk)
        }
    }

    /// s[i][j] = scale * q[i] . kt[:, j], in 4 x 16 tiles held in registers.
    static func scores(q: UnsafePointer<Float>, qStride: Int, kt: UnsafePointer<Float>, nkPad: Int,
                       s: UnsafeMutablePointer<Float>, nq: Int, d: Int, scale: Float) {
        var i = 0
        while i + 4 <= nq {
            let q0 = q + i * qStride, q1 = q0 + qStride, q2 = q1 + qStride, q3 = q2 + qStride
            var g = 0
            while g < nkPad {
                var a0 = SIMD8<Float>(), b0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b1 = SIMD8<Float>()
                var a2 = SIMD8<Float>(), b2 = SIMD8<Float>(), a3 = SIMD8<Float>(), b3 = SIMD8<Float>()
                for t in 0..<d {
                    let k0 = load8(kt + t * nkPad + g), k1 = load8(kt + t * nkPad + g + 8)
                    let x0 = SIMD8(repeating: q0[t]), x1 = SIMD8(repeating: q1[t])
                    let x2 = SIMD8(repeating: q2[t]), x3 = SIMD8(repeating: q3[t])
                    a0.addProduct(x0, k0); b0.addProduct(x0, k1); a1.addProduct(x1, k0); b1.addProduct(x1, k1)
                    a2.addProduct(x2, k0); b2.addProduct(x2, k1); a3.addProduct(x3, k0); b3.addProduct(x3, k1)
                }
                let r = s + i * nkPad + g
                store8(a0 * scale, r); store8(b0 * scale, r + 8)
                store8(a1 * scale, r + nkPad); store8(b1 * scale, r + nkPad + 8)
                store8(a2 * scale, r + 2 * nkPad); store8(b2 * scale, r + 2 * nkPad + 8)
                store8(a3 * scale, r + 3 * nkPad); store8(b3 * scale, r + 3 * nkPad + 8)
                g += 16
            }
            i += 4
        }
        while i < nq {
            let qi = q + i * qStride
            var g = 0
            while g < nkPad {
                var a = SIMD8<Float>(), b = SIMD8<Float>()
                for t in 0..<d {
                    let x = SIMD8(repeating: qi[t])
                    a.addProduct(x, load8(kt + t * nkPad + g)); b.addProduct(x, load8(kt + t * nkPad + g + 8))
                }
                store8(a * scale, s + i * nkPad + g); store8(b * scale, s + i * nkPad + g + 8)
                g += 16
            }
            i += 1
        }
    }

    /// out[i] = sum_j p[i][j] v[j], several rows at once so that eight accumulators stay busy.
    static func weightedSum(p: UnsafePointer<Float>, nkPad: Int, v: UnsafePointer<Float>, vStride: Int,
                            out: UnsafeMutablePointer<Float>, outStride: Int, nq: Int, nk: Int, d: Int) {
        var i = 0
        if d == 32 {
            while i + 2 <= nq {
                let p0 = p + i * nkPad, p1 = p0 + nkPad
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
                for j in 0..<nk {
                    let vj = v + j * vStride
                    let v0 = load8(vj), v1 = load8(vj + 8), v2 = load8(vj + 16), v3 = load8(vj + 24)
                    let x = SIMD8(repeating: p0[j]), y = SIMD8(repeating: p1[j])
                    a0.addProduct(x, v0); a1.addProduct(x, v1); a2.addProduct(x, v2); a3.addProduct(x, v3)
                    c0.addProduct(y, v0); c1.addProduct(y, v1); c2.addProduct(y, v2); c3.addProduct(y, v3)
                }
                let o0 = out + i * outStride, o1 = o0 + outStride
                store8(a0, o0); store8(a1, o0 + 8); store8(a2, o0 + 16); store8(a3, o0 + 24)
                store8(c0, o1); store8(c1, o1 + 8); store8(c2, o1 + 16); store8(c3, o1 + 24)
                i += 2
            }
        } else if d == 16 {
            while i + 4 <= nq {
                let p0 = p + i * nkPad, p1 = p0 + nkPad, p2 = p1 + nkPad, p3 = p2 + nkPad
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b0 = SIMD8<Float>(), b1 = SIMD8<Float>()
                var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), e0 = SIMD8<Float>(), e1 = SIMD8<Float>()
                for j in 0..<nk {
                    let vj = v + j * vStride
                    let v0 = load8(vj), v1 = load8(vj + 8)
                    let w = SIMD8(repeating: p0[j]), x = SIMD8(repeating: p1[j])
                    let y = SIMD8(repeating: p2[j]), z = SIMD8(repeating: p3[j])
                    a0.addProduct(w, v0); a1.addProduct(w, v1); b0.addProduct(x, v0); b1.addProduct(x, v1)
                    c0.addProduct(y, v0); c1.addProduct(y, v1); e0.addProduct(z, v0); e1.addProduct(z, v1)
                }
                let o = out + i * outStride
                store8(a0, o); store8(a1, o + 8)
                store8(b0, o + outStride); store8(b1, o + outStride + 8)
                store8(c0, o + 2 * outStride); store8(c1, o + 2 * outStride + 8)
                store8(e0, o + 3 * outStride); store8(e1, o + 3 * outStride + 8)
                i += 4
            }
        }
        // Remaining rows, and head sizes without a tuned path.
        while i < nq {
            let pi = p + i * nkPad, oi = out + i * outStride
            for t in 0..<d { oi[t] = 0 }
            for j in 0..<nk {
                let w = pi[j], vj = v + j * vStride
                for t in 0..<d { oi[t] += w * vj[t] }
            }
            i += 1
        }
    }

    /// The plain twin, in Double, on arrays.
    public static func reference(q: [Float], k: [Float], v: [Float], nq: Int, nk: Int, d: Int,
                                 scale: Float, bias: [Float]?) -> [Float] {
        var out = [Float](repeating: 0, count: nq * d)
        for i in 0..<nq {
            var logits = (0..<nk).map { j -> Double in
                var dot = 0.0
                for t in 0..<d { dot += Double(q[i * d + t]) * Double(k[j * d + t]) }
                return dot * Double(scale) + Double(bias?[i * nk + j] ?? 0)
            }
            let m = logits.max()!
            logits = logits.map { exp($0 - m) }
            let z = logits.reduce(0, +)
            for t in 0..<d {
                var acc = 0.0
                for j in 0..<nk { acc += logits[j] / z * Double(v[j * d + t]) }
                out[i * d + t] = Float(acc)
            }
        }
        return out
    }
}
