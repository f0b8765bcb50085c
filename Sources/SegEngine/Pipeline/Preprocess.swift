// Preprocess: the image and box preparation of the official LiteMedSAM inference script.
//
// Source of truth: bowang-lab/MedSAM, branch LiteMedSAM, CVPR24_LiteMedSAM_infer.py
// (read at commit 2a5a0556cabee8a62c8c1ec7e7cd821909adcb0c). The lines mirrored here:
//
//   def resize_longest_side(image, target_length=256):
//       oldh, oldw = image.shape[0], image.shape[1]
//       scale = target_length * 1.0 / max(oldh, oldw)
//       newh, neww = oldh * scale, oldw * scale
//       neww, newh = int(neww + 0.5), int(newh + 0.5)
//       target_size = (neww, newh)
//       return cv2.resize(image, target_size, interpolation=cv2.INTER_AREA)
//
//   def pad_image(image, target_size=256):
//       h, w = image.shape[0], image.shape[1]
//       padh = target_size - h
//       padw = target_size - w
//       if len(image.shape) == 3: ## Pad image
//           image_padded = np.pad(image, ((0, padh), (0, padw), (0, 0)))
//
//   def resize_box_to_256(box, original_size):
//       new_box = np.zeros_like(box)
//       ratio = 256 / max(original_size)
//       for i in range(len(box)):
//           new_box[i] = int(box[i] * ratio)
//
//   2D (MedSAM_infer_npz_2D; `imgs` is already (H, W, 3)):
//       img_256 = resize_longest_side(img_3c, 256)
//       newh, neww = img_256.shape[:2]
//       img_256_norm = (img_256 - img_256.min()) / np.clip(
//           img_256.max() - img_256.min(), a_min=1e-8, a_max=None
//       )
//       img_256_padded = pad_image(img_256_norm, 256)
//       img_256_tensor = torch.tensor(img_256_padded).float().permute(2, 0, 1).unsqueeze(0).to(device)
//       ...
//       box256 = resize_box_to_256(box, original_size=(H, W))
//
//   3D (MedSAM_infer_npz_3D), per slice, gray copied to 3 channels BEFORE the resize:
//       img_2d = img_3D[z, :, :]
//       if len(img_2d.shape) == 2:
//           img_3c = np.repeat(img_2d[:, :, None], 3, axis=-1)
//       img_256 = resize_longest_side(img_3c, 256)
//       new_H, new_W = img_256.shape[:2]
//       img_256 = (img_256 - img_256.min()) / np.clip(
//           img_256.max() - img_256.min(), a_min=1e-8, a_max=None
//       )  # normalize to [0, 1], (H, W, 3)
//       img_256 = pad_image(img_256)
//
// Exact arithmetic: `img_256 - img_256.min()` stays uint8 (no wrap: every value >= min); the divisor is a
// float64 (np.clip of a uint8 scalar with a Python float); the quotient is float64, then `.float()`
// rounds it to float32. So value = Float(Double(v - min) / max(Double(max - min), 1e-8)); an all-equal
// image gives zeros. The box ratio is computed first (256 / max(H, W), float64), then v * ratio is
// truncated toward zero by int(); note this is not always int(v * 256 / max(H, W)).
//
// Because INTER_AREA treats channels independently (see Resize.swift), a 1-channel image is resized
// once and then copied to the 3 channels, which equals resizing the repeated 3-channel image.

/// What the encoder gets and what post-processing needs.
public struct Preprocessed: Sendable {
    /// target * target * 3 values, HWC, min-max normalised to [0, 1], zero-padded bottom/right.
    public let tensor: [Float]
    /// Size of the resized image inside the target x target input (the unpadded part).
    public let newHeight: Int
    public let newWidth: Int
    public let originalHeight: Int
    public let originalWidth: Int
    /// Side of the square model input (256 for LiteMedSAM).
    public let target: Int

    public init(tensor: [Float], newHeight: Int, newWidth: Int, originalHeight: Int, originalWidth: Int,
                target: Int = 256) {
        self.tensor = tensor
        self.newHeight = newHeight
        self.newWidth = newWidth
        self.originalHeight = originalHeight
        self.originalWidth = originalWidth
        self.target = target
    }
}

public enum Preprocess {
    /// resize_longest_side's new size: (int(H * s + 0.5), int(W * s + 0.5)), s = target / max(H, W),
    /// but at least 1: for a side under 1/512 of the other (say 600x1) the official script asks
    /// cv2 for a zero size and fails; here the image keeps a one-pixel side.
    public static func resizedSize(height: Int, width: Int, target: Int = 256) -> (height: Int, width: Int) {
        let scale = Double(target) * 1.0 / Double(max(height, width))
        let nh = Int(Double(height) * scale + 0.5), nw = Int(Double(width) * scale + 0.5)
        return (max(1, nh), max(1, nw))
    }

    /// resize_longest_side: INTER_AREA resize so the longest side is `target` (channels unchanged).
    public static func resizeLongestSide(_ img: ImageU8, target: Int = 256) -> ImageU8 {
        let (nh, nw) = resizedSize(height: img.height, width: img.width, target: target)
        return Resize.area(img, toHeight: nh, width: nw)
    }

    /// Official LiteMedSAM image preparation: longest side to `target` (INTER_AREA), gray copied to
    /// 3 channels, min-max normalisation of the resized image, zero padding to target x target.
    /// `img` has 1 or 3 channels and a positive size.
    public static func image(_ img: ImageU8, target: Int = 256) -> Preprocessed {
        precondition(img.channels == 1 || img.channels == 3, "Preprocess.image: channels must be 1 or 3, got \(img.channels)")
        let small = resizeLongestSide(img, target: target)
        let nh = small.height, nw = small.width, cn = small.channels
        var lo = UInt8.max, hi = UInt8.min
        for v in small.pixels { lo = min(lo, v); hi = max(hi, v) }
        let divisor = max(Double(hi &- lo), 1e-8)
        // Lookup table: only 256 possible inputs.
        var lut = [Float](repeating: 0, count: 256)
        for v in Int(lo)...Int(hi) { lut[v] = Float(Double(v - Int(lo)) / divisor) }
        var tensor = [Float](repeating: 0, count: target * target * 3)
        small.pixels.withUnsafeBufferPointer { s in
            tensor.withUnsafeMutableBufferPointer { t in
                for y in 0..<nh {
                    let srow = y * nw * cn, trow = y * target * 3
                    if cn == 3 {
                        for i in 0..<(nw * 3) { t[trow + i] = lut[Int(s[srow + i])] }
                    } else {
                        for x in 0..<nw {
                            let v = lut[Int(s[srow + x])]
                            t[trow + 3 * x] = v; t[trow + 3 * x + 1] = v; t[trow + 3 * x + 2] = v
                        }
                    }
                }
            }
        }
        return Preprocessed(tensor: tensor, newHeight: nh, newWidth: nw,
                            originalHeight: img.height, originalWidth: img.width, target: target)
    }

    /// resize_box_to_256: box [x0, y0, x1, y1] in original pixels -> model pixels,
    /// int(v * (256 / max(H, W))) with truncation toward zero.
    public static func box(_ box: [Double], originalHeight: Int, originalWidth: Int, target: Int = 256) -> [Float] {
        let ratio = Double(target) / Double(max(originalHeight, originalWidth))
        return box.map { v in
            let p = v * ratio
            return Float(p.rounded(.towardZero))
        }
    }
}
