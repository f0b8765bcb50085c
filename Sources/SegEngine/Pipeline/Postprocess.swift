// Postprocess: low-resolution logits -> mask in original pixels, as the official LiteMedSAM script does
// (bowang-lab/MedSAM, branch LiteMedSAM, CVPR24_LiteMedSAM_infer.py):
//
//   def postprocess_masks(self, masks, new_size, original_size):
//       masks = masks[..., :new_size[0], :new_size[1]]
//       masks = F.interpolate(masks, size=(original_size[0], original_size[1]),
//                             mode="bilinear", align_corners=False)
//   medsam_inference:
//       low_res_pred = medsam_model.postprocess_masks(low_res_logits, new_size, original_size)
//       low_res_pred = torch.sigmoid(low_res_pred)
//       medsam_seg = (low_res_pred > 0.5).astype(np.uint8)
//
// torch's CPU bilinear (aten/src/ATen/native/UpSample.h and cpu/UpSampleKernel.cpp), in float32:
//   scale = Float(in) / Float(out)                      (no scale_factor given)
//   src = max(scale * (dst + 0.5) - 0.5, 0)
//   i0 = min(Int(floor(src)), in - 1); l1 = clamp(src - i0, 0, 1); l0 = 1 - l1
//   i1 = i0 + (i0 < in - 1 ? 1 : 0)
//   in == out: i0 = i1 = dst, l0 = 1, l1 = 0
//   out = (v[y0][x0] * lx0 + v[y0][x1] * lx1) * ly0 + (v[y1][x0] * lx0 + v[y1][x1] * lx1) * ly1
// torch's compiled kernels may fuse multiply-adds, so agreement is to a few float ulps, not bits.
// sigmoid(x) > 0.5 is x > 0 except for tiny positive x where float32 sigmoid rounds to 0.5;
// `mask` evaluates the float sigmoid for |x| < 1e-3 to follow that too.

import Foundation

public enum Postprocess {
    /// Mask [H * W] of 0/1 from low-res logits [target * target] (row-major).
    public static func mask(logits: UnsafeBufferPointer<Float>, pre: Preprocessed) -> [UInt8] {
        let up = upsampledLogits(logits: logits, pre: pre)
        return up.map { isForeground($0) ? 1 : 0 }
    }

    public static func mask(logits: [Float], pre: Preprocessed) -> [UInt8] {
        logits.withUnsafeBufferPointer { mask(logits: $0, pre: pre) }
    }

    /// torch.sigmoid(x) > 0.5 in float32.
    @inline(__always) public static func isForeground(_ x: Float) -> Bool {
        if x >= 1e-3 { return true }
        if x <= 0 || x.isNaN { return false }
        return 1 / (1 + expf(-x)) > 0.5
    }

    /// Crop [0..<newHeight, 0..<newWidth] of the target x target logits, bilinear to the original size.
    public static func upsampledLogits(logits: UnsafeBufferPointer<Float>, pre: Preprocessed) -> [Float] {
        precondition(logits.count >= pre.target * pre.target, "Postprocess: \(logits.count) logits for \(pre.target)^2")
        return bilinear(logits.baseAddress!, height: pre.newHeight, width: pre.newWidth, rowStride: pre.target,
                        toHeight: pre.originalHeight, toWidth: pre.originalWidth)
    }

    public static func upsampledLogits(logits: [Float], pre: Preprocessed) -> [Float] {
        logits.withUnsafeBufferPointer { upsampledLogits(logits: $0, pre: pre) }
    }

    /// torch `F.interpolate(x, size=(toHeight, toWidth), mode="bilinear", align_corners=False)` for one
    /// float32 plane of `height` x `width` whose rows are `rowStride` apart. Separable and fast: each source
    /// row is interpolated along x once, then rows are blended; the products and sums are the ones of the
    /// per-pixel formula (see `bilinearReference`), so both give the same bits.
    public static func bilinear(_ src: UnsafePointer<Float>, height: Int, width: Int, rowStride: Int,
                                toHeight oh: Int, toWidth ow: Int) -> [Float] {
        let xs = axis(input: width, output: ow)
        let ys = axis(input: height, output: oh)
        var out = [Float](repeating: 0, count: oh * ow)
        var rowA = [Float](repeating: 0, count: ow), rowB = [Float](repeating: 0, count: ow)
        var haveA = -1, haveB = -1
        out.withUnsafeMutableBufferPointer { o in
        rowA.withUnsafeMutableBufferPointer { ra in
        rowB.withUnsafeMutableBufferPointer { rb in
            var pa = ra.baseAddress!, pb = rb.baseAddress!
            func hrow(_ y: Int, _ d: UnsafeMutablePointer<Float>) {
                let s = src + y * rowStride
                for x in 0..<ow {
                    d[x] = s[xs.i0[x]] * xs.l0[x] + s[xs.i1[x]] * xs.l1[x]
                }
            }
            for y in 0..<oh {
                let y0 = ys.i0[y], y1 = ys.i1[y]
                if haveA != y0 {
                    if haveB == y0 { swap(&pa, &pb); swap(&haveA, &haveB) } else { hrow(y0, pa); haveA = y0 }
                }
                if haveB != y1 { hrow(y1, pb); haveB = y1 }
                let w0 = ys.l0[y], w1 = ys.l1[y]
                let d = o.baseAddress! + y * ow
                for x in 0..<ow { d[x] = pa[x] * w0 + pb[x] * w1 }
            }
        }}}
        return out
    }

    /// Plain per-pixel twin of `bilinear` (reference for tests).
    public static func bilinearReference(_ src: [Float], height: Int, width: Int, rowStride: Int,
                                         toHeight oh: Int, toWidth ow: Int) -> [Float] {
        let xs = axis(input: width, output: ow), ys = axis(input: height, output: oh)
        var out = [Float](repeating: 0, count: oh * ow)
        for y in 0..<oh {
            for x in 0..<ow {
                func v(_ r: Int, _ c: Int) -> Float { src[r * rowStride + c] }
                let t0 = v(ys.i0[y], xs.i0[x]) * xs.l0[x] + v(ys.i0[y], xs.i1[x]) * xs.l1[x]
                let t1 = v(ys.i1[y], xs.i0[x]) * xs.l0[x] + v(ys.i1[y], xs.i1[x]) * xs.l1[x]
                out[y * ow + x] = t0 * ys.l0[y] + t1 * ys.l1[y]
            }
        }
        return out
    }

    struct Axis { var i0: [Int], i1: [Int], l0: [Float], l1: [Float] }

    /// torch compute_source_index_and_lambda (align_corners=False, no scale factor), float32 math.
    static func axis(input: Int, output: Int) -> Axis {
        var a = Axis(i0: .init(repeating: 0, count: output), i1: .init(repeating: 0, count: output),
                     l0: .init(repeating: 1, count: output), l1: .init(repeating: 0, count: output))
        if input == output {
            for i in 0..<output { a.i0[i] = i; a.i1[i] = i }
            return a
        }
        let scale = Float(input) / Float(output)
        for i in 0..<output {
            var src = scale * (Float(i) + 0.5) - 0.5
            if src < 0 { src = 0 }
            let i0 = min(Int(floorf(src)), input - 1)
            let l1 = min(max(src - Float(i0), 0), 1)
            a.i0[i] = i0
            a.i1[i] = i0 + (i0 < input - 1 ? 1 : 0)
            a.l1[i] = l1
            a.l0[i] = 1 - l1
        }
        return a
    }
}
