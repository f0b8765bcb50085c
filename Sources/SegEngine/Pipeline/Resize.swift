// Resize: OpenCV `cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)` for uint8 HxWxC images,
// reproduced bit for bit (tested against opencv-python 5.0.0 by Tests/SegEngineTests/PreprocessTests.swift).
//
// Mirrors opencv/opencv modules/imgproc/src/resize.cpp, `cv::hal::resize` (reading of the source):
//
//   inv_scale_x = dst_w / src_w; scale_x = 1 / inv_scale_x           (doubles; the same for y)
//   dst size == src size                        -> plain copy (cv::resize)
//   scale_x >= 1 && scale_y >= 1 (shrink both)  -> "true area":
//       both scales integers (|scale - int| < DBL_EPSILON)  -> resizeAreaFast_  (integer sums)
//           2x2 with cn in {1,3,4}: (a + b + c + d + 2) >> 2        (ResizeAreaFastVec, SIMD and scalar alike)
//           otherwise:               saturate_cast<uchar>(sum * (1.f / area))   (round half to even)
//       otherwise                                          -> resizeArea_<uchar, float>
//           computeResizeAreaTab gives (src index, dst index, float weight) triples per axis;
//           each source row is accumulated in float (buf += S * alpha), rows are combined in float
//           (sum = beta * buf, then sum += beta * buf), saturate_cast<uchar>(sum) (round half to even).
//   otherwise (any axis enlarged)               -> the bilinear resizeGeneric_ with "area" coefficients:
//           sx = floor(dx * scale_x); fx = (float)((dx + 1) - (sx + 1) * inv_scale_x);
//           fx = fx <= 0 ? 0 : fx - floor(fx); sx >= src_w - 1 -> sx = src_w - 1, fx = 0
//           (the same on y, without the clamp: rows sy and sy + 1 are clipped to the image),
//           coefficients saturate_cast<short>(c * 2048) (INTER_RESIZE_COEF_BITS = 11),
//           horizontal pass in int: S[sx] * a0 + S[sx + cn] * a1 (S[sx] * 2048 right of xmax),
//           vertical pass = the uchar specialisation of VResizeLinear (identical to its SIMD twin
//           VResizeLinearVec_32s8u, so the result does not depend on the CPU's vector width):
//           uchar((((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16) + 2) >> 2).
//
// Not used for INTER_AREA: resize_bitExact (INTER_LINEAR_EXACT only); the IPP path (ipp_resize refuses
// ippSuper unless the not-exact mode is switched on). Channels are independent in every path, so a gray
// image resized with 1 channel and then copied to 3 equals the 3-channel resize (tested).

/// An 8-bit image, rows of pixels with `channels` interleaved values (HWC). Channels 1 or 3 (any >= 1 works).
public struct ImageU8: Sendable, Equatable {
    public let height: Int
    public let width: Int
    public let channels: Int
    public var pixels: [UInt8]   // height * width * channels, row-major, channels interleaved

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        precondition(height >= 0 && width >= 0 && channels >= 1, "ImageU8: bad shape \(height)x\(width)x\(channels)")
        precondition(pixels.count == height * width * channels,
                     "ImageU8: \(pixels.count) values for shape \(height)x\(width)x\(channels)")
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
    }

    /// A zero image.
    public init(height: Int, width: Int, channels: Int) {
        self.init(height: height, width: width, channels: channels,
                  pixels: [UInt8](repeating: 0, count: height * width * channels))
    }
}

public enum Resize {
    /// `cv2.resize(img, (width, toHeight), interpolation=cv2.INTER_AREA)`, bit-exact.
    /// Sizes must be positive (callers validate user input; a zero size is a programming error here).
    public static func area(_ img: ImageU8, toHeight dh: Int, width dw: Int) -> ImageU8 {
        precondition(img.height > 0 && img.width > 0 && dh > 0 && dw > 0,
                     "Resize.area: empty size \(img.height)x\(img.width) -> \(dh)x\(dw)")
        if dh == img.height && dw == img.width { return img }
        let invScaleX = Double(dw) / Double(img.width)
        let invScaleY = Double(dh) / Double(img.height)
        let scaleX = 1.0 / invScaleX, scaleY = 1.0 / invScaleY
        if scaleX >= 1 && scaleY >= 1 {
            let iscaleX = Int(scaleX.rounded(.toNearestOrEven)), iscaleY = Int(scaleY.rounded(.toNearestOrEven))
            let isAreaFast = abs(scaleX - Double(iscaleX)) < Double.ulpOfOne
                && abs(scaleY - Double(iscaleY)) < Double.ulpOfOne
            if isAreaFast {
                return areaFast(img, dh: dh, dw: dw, sx: iscaleX, sy: iscaleY)
            }
            return areaGeneral(img, dh: dh, dw: dw, scaleX: scaleX, scaleY: scaleY)
        }
        return linearArea(img, dh: dh, dw: dw, scaleX: scaleX, scaleY: scaleY,
                          invScaleX: invScaleX, invScaleY: invScaleY)
    }

    // MARK: - resizeAreaFast_ (integer factors)

    static func areaFast(_ img: ImageU8, dh: Int, dw: Int, sx scaleX: Int, sy scaleY: Int) -> ImageU8 {
        let cn = img.channels
        let sw = img.width * cn, sh = img.height
        let dwidth = dw * cn
        let area = scaleX * scaleY
        let scale: Float = 1 / Float(area)
        let dwidth1 = (img.width / scaleX) * cn
        let fast2x2 = scaleX == 2 && scaleY == 2 && (cn == 1 || cn == 3 || cn == 4)
        var out = [UInt8](repeating: 0, count: dh * dwidth)
        img.pixels.withUnsafeBufferPointer { srcBuf in
            out.withUnsafeMutableBufferPointer { dstBuf in
                let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!
                for dy in 0..<dh {
                    let d = dst + dy * dwidth
                    let sy0 = dy * scaleY
                    if sy0 >= sh { continue }   // zeros
                    let w = sy0 + scaleY <= sh ? dwidth1 : 0
                    let s0 = src + sy0 * sw
                    var dx = 0
                    if fast2x2 {
                        let s1 = s0 + sw
                        while dx < w {
                            // element dx = j * cn + c sits at source element 2 * j * cn + c
                            let i = (dx / cn) * 2 * cn + dx % cn
                            let t = Int(s0[i]) + Int(s0[i + cn]) + Int(s1[i]) + Int(s1[i + cn]) + 2
                            d[dx] = UInt8(truncatingIfNeeded: t >> 2)
                            dx += 1
                        }
                    } else {
                        while dx < w {
                            let base = (dx / cn) * scaleX * cn + dx % cn
                            var sum = 0
                            for ky in 0..<scaleY {
                                let row = s0 + ky * sw + base
                                for kx in 0..<scaleX { sum += Int(row[kx * cn]) }
                            }
                            d[dx] = saturateU8(Float(sum) * scale)
                            dx += 1
                        }
                    }
                    // Border cells that are only partly inside the source (counted average).
                    while dx < dwidth {
                        let sx0 = (dx / cn) * scaleX * cn + dx % cn
                        var sum = 0, count = 0
                        for ky in 0..<scaleY {
                            if sy0 + ky >= sh { break }
                            let row = src + (sy0 + ky) * sw + sx0
                            var k = 0
                            while k < scaleX * cn {
                                if sx0 + k >= sw { break }
                                sum += Int(row[k]); count += 1
                                k += cn
                            }
                        }
                        d[dx] = count == 0 ? 0 : saturateU8(Float(sum) / Float(count))
                        dx += 1
                    }
                }
            }
        }
        return ImageU8(height: dh, width: dw, channels: cn, pixels: out)
    }

    // MARK: - resizeArea_ (general shrink)

    struct DecimateTab {
        var si: [Int32] = []     // source index (already times cn for x)
        var di: [Int32] = []     // destination index (already times cn for x)
        var alpha: [Float] = []
    }

    /// computeResizeAreaTab, verbatim.
    static func computeResizeAreaTab(ssize: Int, dsize: Int, cn: Int, scale: Double) -> DecimateTab {
        var tab = DecimateTab()
        tab.si.reserveCapacity(ssize * 2); tab.di.reserveCapacity(ssize * 2); tab.alpha.reserveCapacity(ssize * 2)
        func add(_ d: Int, _ s: Int, _ a: Float) {
            tab.di.append(Int32(d * cn)); tab.si.append(Int32(s * cn)); tab.alpha.append(a)
        }
        for dx in 0..<dsize {
            let fsx1 = Double(dx) * scale
            let fsx2 = fsx1 + scale
            let cellWidth = min(scale, Double(ssize) - fsx1)
            var sx1 = Int(fsx1.rounded(.up)), sx2 = Int(fsx2.rounded(.down))
            sx2 = min(sx2, ssize - 1)
            sx1 = min(sx1, sx2)
            if Double(sx1) - fsx1 > 1e-3 {
                add(dx, sx1 - 1, Float((Double(sx1) - fsx1) / cellWidth))
            }
            var sx = sx1
            while sx < sx2 {
                add(dx, sx, Float(1.0 / cellWidth))
                sx += 1
            }
            if fsx2 - Double(sx2) > 1e-3 {
                add(dx, sx2, Float(min(min(fsx2 - Double(sx2), 1.0), cellWidth) / cellWidth))
            }
        }
        return tab
    }

    static func areaGeneral(_ img: ImageU8, dh: Int, dw: Int, scaleX: Double, scaleY: Double) -> ImageU8 {
        let cn = img.channels
        let sw = img.width * cn
        let dwidth = dw * cn
        let xtab = computeResizeAreaTab(ssize: img.width, dsize: dw, cn: cn, scale: scaleX)
        let ytab = computeResizeAreaTab(ssize: img.height, dsize: dh, cn: 1, scale: scaleY)
        var out = [UInt8](repeating: 0, count: dh * dwidth)
        var bufArr = [Float](repeating: 0, count: dwidth)
        var sumArr = [Float](repeating: 0, count: dwidth)
        img.pixels.withUnsafeBufferPointer { srcBuf in
        out.withUnsafeMutableBufferPointer { dstBuf in
        bufArr.withUnsafeMutableBufferPointer { bufBuf in
        sumArr.withUnsafeMutableBufferPointer { sumBuf in
        xtab.si.withUnsafeBufferPointer { xsi in
        xtab.di.withUnsafeBufferPointer { xdi in
        xtab.alpha.withUnsafeBufferPointer { xal in
            let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!
            let buf = bufBuf.baseAddress!, sum = sumBuf.baseAddress!
            let n = xsi.count
            var prevDy = Int(ytab.di[0])
            for j in 0..<ytab.si.count {
                let beta = ytab.alpha[j]
                let dy = Int(ytab.di[j])
                let s = src + Int(ytab.si[j]) * sw
                for i in 0..<dwidth { buf[i] = 0 }
                switch cn {
                case 1:
                    for k in 0..<n {
                        let dxn = Int(xdi[k])
                        buf[dxn] = buf[dxn] + Float(s[Int(xsi[k])]) * xal[k]
                    }
                case 3:
                    for k in 0..<n {
                        let sxn = Int(xsi[k]), dxn = Int(xdi[k]), a = xal[k]
                        let t0 = buf[dxn] + Float(s[sxn]) * a
                        let t1 = buf[dxn + 1] + Float(s[sxn + 1]) * a
                        let t2 = buf[dxn + 2] + Float(s[sxn + 2]) * a
                        buf[dxn] = t0; buf[dxn + 1] = t1; buf[dxn + 2] = t2
                    }
                default:
                    for k in 0..<n {
                        let sxn = Int(xsi[k]), dxn = Int(xdi[k]), a = xal[k]
                        for c in 0..<cn { buf[dxn + c] = buf[dxn + c] + Float(s[sxn + c]) * a }
                    }
                }
                if dy != prevDy {
                    let d = dst + prevDy * dwidth
                    for i in 0..<dwidth {
                        d[i] = saturateU8(sum[i])
                        sum[i] = beta * buf[i]
                    }
                    prevDy = dy
                } else {
                    for i in 0..<dwidth { sum[i] = sum[i] + beta * buf[i] }
                }
            }
            let d = dst + prevDy * dwidth
            for i in 0..<dwidth { d[i] = saturateU8(sum[i]) }
        }}}}}}}
        return ImageU8(height: dh, width: dw, channels: cn, pixels: out)
    }

    // MARK: - INTER_AREA when enlarging: resizeGeneric_ with linear kernels and "area" coefficients

    static let coefBits = 11
    static let coefScale = 1 << coefBits   // INTER_RESIZE_COEF_SCALE = 2048

    static func linearArea(_ img: ImageU8, dh: Int, dw: Int, scaleX: Double, scaleY: Double,
                           invScaleX: Double, invScaleY: Double) -> ImageU8 {
        let cn = img.channels
        let swidth = img.width, sh = img.height
        let sw = swidth * cn
        let width = dw * cn
        // Horizontal tables, per destination column.
        var xofs = [Int](repeating: 0, count: dw)        // source element offset sx * cn
        var ialpha = [Int32](repeating: 0, count: dw * 2)
        var xmax = dw
        for dx in 0..<dw {
            var sx = Int((Double(dx) * scaleX).rounded(.down))
            var fx = Float(Double(dx + 1) - Double(sx + 1) * invScaleX)
            fx = fx <= 0 ? 0 : fx - fx.rounded(.down)
            if sx < 0 { fx = 0; sx = 0 }                       // (ksize2 - 1 = 0) never for area mode
            if sx + 1 >= swidth {
                xmax = min(xmax, dx)
                if sx >= swidth - 1 { fx = 0; sx = swidth - 1 }
            }
            xofs[dx] = sx * cn
            ialpha[dx * 2] = Int32(saturateS16((1 - fx) * Float(coefScale)))
            ialpha[dx * 2 + 1] = Int32(saturateS16(fx * Float(coefScale)))
        }
        // Vertical tables, per destination row.
        var yofs = [Int](repeating: 0, count: dh)
        var ibeta = [Int32](repeating: 0, count: dh * 2)
        for dy in 0..<dh {
            let sy = Int((Double(dy) * scaleY).rounded(.down))
            var fy = Float(Double(dy + 1) - Double(sy + 1) * invScaleY)
            fy = fy <= 0 ? 0 : fy - fy.rounded(.down)
            yofs[dy] = sy
            ibeta[dy * 2] = Int32(saturateS16((1 - fy) * Float(coefScale)))
            ibeta[dy * 2 + 1] = Int32(saturateS16(fy * Float(coefScale)))
        }
        var out = [UInt8](repeating: 0, count: dh * width)
        // Two horizontal-pass rows, cached by source row index (as resizeGeneric_ does).
        var rowsArr = [Int32](repeating: 0, count: 2 * width)
        img.pixels.withUnsafeBufferPointer { srcBuf in
        out.withUnsafeMutableBufferPointer { dstBuf in
        rowsArr.withUnsafeMutableBufferPointer { rowsBuf in
        xofs.withUnsafeBufferPointer { xo in
        ialpha.withUnsafeBufferPointer { al in
            let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!
            var rowPtr = [rowsBuf.baseAddress!, rowsBuf.baseAddress! + width]
            var rowSy = [-1, -1]
            func hresize(_ sy: Int, into d: UnsafeMutablePointer<Int32>) {
                let s = src + sy * sw
                for dx in 0..<xmax {
                    let sx = xo[dx]
                    let a0 = al[dx * 2], a1 = al[dx * 2 + 1]
                    for c in 0..<cn {
                        d[dx * cn + c] = Int32(s[sx + c]) &* a0 &+ Int32(s[sx + cn + c]) &* a1
                    }
                }
                for dx in xmax..<dw {
                    let sx = xo[dx]
                    for c in 0..<cn { d[dx * cn + c] = Int32(s[sx + c]) &* Int32(coefScale) }
                }
            }
            for dy in 0..<dh {
                let sy0 = yofs[dy]
                let want0 = min(max(sy0, 0), sh - 1), want1 = min(max(sy0 + 1, 0), sh - 1)
                if rowSy[0] != want0 {
                    if rowSy[1] == want0 {
                        rowPtr.swapAt(0, 1); rowSy.swapAt(0, 1)
                    } else {
                        hresize(want0, into: rowPtr[0]); rowSy[0] = want0
                    }
                }
                let s1: UnsafeMutablePointer<Int32>
                if want1 == want0 {
                    s1 = rowPtr[0]
                } else {
                    if rowSy[1] != want1 { hresize(want1, into: rowPtr[1]); rowSy[1] = want1 }
                    s1 = rowPtr[1]
                }
                let b0 = ibeta[dy * 2], b1 = ibeta[dy * 2 + 1]
                let s0 = rowPtr[0]
                let d = dst + dy * width
                for x in 0..<width {
                    let v = ((b0 &* (s0[x] >> 4)) >> 16) &+ ((b1 &* (s1[x] >> 4)) >> 16) &+ 2
                    d[x] = UInt8(truncatingIfNeeded: v >> 2)
                }
            }
        }}}}}
        return ImageU8(height: dh, width: dw, channels: cn, pixels: out)
    }

    // MARK: - saturate_cast

    /// saturate_cast<uchar>(float): cvRound (round half to even), then clamp to 0...255.
    @inline(__always) static func saturateU8(_ v: Float) -> UInt8 {
        let r = v.rounded(.toNearestOrEven)
        if !(r > 0) { return 0 }          // also NaN -> 0
        if r >= 255 { return 255 }
        return UInt8(r)
    }

    /// saturate_cast<short>(float).
    @inline(__always) static func saturateS16(_ v: Float) -> Int16 {
        let r = v.rounded(.toNearestOrEven)
        if r <= -32768 { return -32768 }
        if r >= 32767 { return 32767 }
        return Int16(r)
    }
}
