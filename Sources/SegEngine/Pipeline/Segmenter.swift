// Box prompts to masks: the official LiteMedSAM protocol on images and stacks of slices.
// The engine knows images and boxes; a volume is a depth and a closure giving each slice.

/// A 2D box in original pixels [x0, y0, x1, y1].
public typealias PixelBox = [Double]

/// A 3D box: 2D box plus an inclusive slice range.
public struct StackBox: Sendable, Equatable {
    public var box: PixelBox
    public var z0, z1: Int
    public init(box: PixelBox, z0: Int, z1: Int) { self.box = box; self.z0 = z0; self.z1 = z1 }
}

/// How a 3D box becomes masks on its slices.
public enum Strategy3D: String, Sendable, CaseIterable {
    /// The official protocol: the middle slice uses the box; each next slice (up, then down)
    /// uses the previous mask's bounding box in 256 space widened by 3 px (the box itself when
    /// the previous mask is empty).
    case propagate
    /// QMedSAM's deployment: the box unchanged on every slice of its range, all boxes of a
    /// slice decoded in one batch.
    case perSlice = "per-slice"
}

public final class Segmenter: @unchecked Sendable {
    public let model: LiteMedSAM
    public let cache: EmbeddingCache
    /// Largest number of boxes decoded in one batch (bounds the decoder's memory).
    public var maxBatch: Int
    public private(set) var slicesEncoded = 0

    public init(model: LiteMedSAM, cacheBytes: Int = 512 << 20, maxBatch: Int = 16) {
        self.model = model
        self.cache = EmbeddingCache(budgetBytes: cacheBytes)
        self.maxBatch = max(1, maxBatch)
    }

    /// The slice's embedding, from the cache when `key` is given and present.
    public func encode(_ image: ImageU8, key: Int? = nil) -> EncodedSlice {
        if let key, let hit = cache.get(key) { return hit }
        let pre = Preprocess.image(image)
        let embedding = Profile.measure("encoder") { model.embed(Tensor(shape: [256, 256, 3], data: pre.tensor)) }
        slicesEncoded += 1
        let slice = EncodedSlice(embedding: embedding, pre: PreprocessedGeometry(
            newHeight: pre.newHeight, newWidth: pre.newWidth, originalHeight: pre.originalHeight, originalWidth: pre.originalWidth))
        if let key { cache.put(key, slice) }
        return slice
    }

    /// Masks [H*W] (0/1) for boxes already in 256-model pixels, decoded in batches.
    public func masks(_ slice: EncodedSlice, boxes256: [[Float]]) -> [[UInt8]] {
        guard !boxes256.isEmpty else { return [] }
        let ctx = model.maskDecoder.context(for: slice.embedding)
        let pre = Preprocessed(tensor: [], newHeight: slice.pre.newHeight, newWidth: slice.pre.newWidth,
                               originalHeight: slice.pre.originalHeight, originalWidth: slice.pre.originalWidth)
        var out: [[UInt8]] = []
        for start in stride(from: 0, to: boxes256.count, by: maxBatch) {
            let batch = Array(boxes256[start..<min(start + maxBatch, boxes256.count)])
            let logits = model.decode(ctx, boxes: batch)
            logits.data.withUnsafeBufferPointer { p in
                for b in 0..<batch.count {
                    out.append(Postprocess.mask(logits: UnsafeBufferPointer(rebasing: p[(b * 65536)..<((b + 1) * 65536)]), pre: pre))
                }
            }
        }
        return out
    }

    /// 2D: one mask per box (boxes in original pixels, clipped to the image).
    public func segment(_ image: ImageU8, boxes: [PixelBox], key: Int? = nil) -> [[UInt8]] {
        let slice = encode(image, key: key)
        return masks(slice, boxes256: boxes.map { Preprocess.box($0, originalHeight: image.height, originalWidth: image.width) })
    }

    /// 3D: a label map [depth * H * W], label i + 1 for box i, later boxes over earlier ones.
    /// `slice(z)` gives slice z; `progress(done, total)` reports slices processed.
    public func segment3D(depth: Int, height: Int, width: Int, slice: (Int) -> ImageU8, boxes: [StackBox],
                          strategy: Strategy3D, progress: (Int, Int) -> Void = { _, _ in }) -> [UInt16] {
        var labels = [UInt16](repeating: 0, count: depth * height * width)
        let plane = height * width
        switch strategy {
        case .perSlice:
            var byZ: [Int: [(label: Int, box: PixelBox)]] = [:]
            for (i, b) in boxes.enumerated() where b.z0 <= b.z1 {
                for z in max(0, b.z0)...min(depth - 1, b.z1) { byZ[z, default: []].append((i + 1, b.box)) }
            }
            let zs = byZ.keys.sorted()
            for (n, z) in zs.enumerated() {
                let items = byZ[z]!
                let ms = segment(slice(z), boxes: items.map(\.box))
                for (item, m) in zip(items, ms) {
                    for p in 0..<plane where m[p] != 0 { labels[z * plane + p] = UInt16(item.label) }
                }
                progress(n + 1, zs.count)
            }
        case .propagate:
            let total = boxes.reduce(0) { $0 + max(0, min(depth - 1, $1.z1) - max(0, $1.z0) + 1) }
            var done = 0
            for (i, b) in boxes.enumerated() {
                let z0 = max(0, b.z0), z1 = min(depth - 1, b.z1)
                guard z0 <= z1 else { continue }
                let zm = Int(Double(z1 - z0) / 2 + Double(z0))
                let mid = Preprocess.box(b.box, originalHeight: height, originalWidth: width)
                func step(_ z: Int, _ previous: [UInt8]?) -> [UInt8] {
                    let box256 = previous.flatMap { bbox256($0, height: height, width: width) } ?? mid
                    let m = masks(encode(slice(z), key: z), boxes256: [box256])[0]
                    for p in 0..<plane where m[p] != 0 { labels[z * plane + p] = UInt16(i + 1) }
                    done += 1
                    progress(done, total)
                    return m
                }
                // Up from the middle slice (which uses the box itself), then down from it.
                let middle = step(zm, nil)
                var previous = middle
                if zm < z1 { for z in (zm + 1)...z1 { previous = step(z, previous) } }
                previous = middle
                for z in stride(from: zm - 1, through: z0, by: -1) { previous = step(z, previous) }
            }
        }
        return labels
    }

    /// Bounding box in 256 space of a mask (resized as the image is), widened by 3 px and
    /// clipped to [0, 256]; nil when the resized mask is empty.
    public func bbox256(_ mask: [UInt8], height: Int, width: Int) -> [Float]? {
        let (nh, nw) = Preprocess.resizedSize(height: height, width: width)
        let r = Resize.area(ImageU8(height: height, width: width, channels: 1, pixels: mask), toHeight: nh, width: nw)
        var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1
        for y in 0..<nh { for x in 0..<nw where r.pixels[y * nw + x] != 0 {
            x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
        } }
        guard x1 >= 0 else { return nil }
        return [Float(max(0, x0 - 3)), Float(max(0, y0 - 3)), Float(min(256, x1 + 3)), Float(min(256, y1 + 3))]
    }
}
