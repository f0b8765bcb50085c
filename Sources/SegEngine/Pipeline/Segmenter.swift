// Box prompts to masks: the official LiteMedSAM protocol on images and stacks of slices.
// The engine knows images and boxes; a volume is a depth and a closure giving each slice.
import Dispatch

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
    /// slice decoded in one step.
    case perSlice = "per-slice"
}

public final class Segmenter: @unchecked Sendable {
    public let model: LiteMedSAM
    public let cache: EmbeddingCache
    /// Largest number of boxes decoded in one batch. 1 (the default) decodes each box alone,
    /// so its mask does not depend on the other boxes (a batch's products round differently).
    /// Larger batches save about 9% on 2D cases with hundreds of boxes.
    public var maxBatch: Int
    /// Encoder passes run so far (cache hits not counted).
    public var slicesEncoded: Int { counter.locked { encodes } }
    private var encodes = 0
    private let counter = Monitor()

    /// Whether slices keep their embeddings in half precision (the int8 and bf16 engines'
    /// default; the fp32 engine keeps them exact, to match PyTorch).
    public let compactEmbeddings: Bool

    public init(model: LiteMedSAM, cacheBytes: Int = 512 << 20, maxBatch: Int = 1, compactEmbeddings: Bool? = nil) {
        self.model = model
        self.compactEmbeddings = compactEmbeddings ?? (model.precision != .fp32)
        self.cache = EmbeddingCache(budgetBytes: cacheBytes)
        self.maxBatch = max(1, maxBatch)
    }

    /// The slice's embedding, from the cache when `key` is given and present.
    public func encode(_ image: ImageU8, key: Int? = nil) -> EncodedSlice {
        if let key, let hit = cache.get(key) { return hit }
        let pre = Preprocess.image(image)
        let embedding = Profile.measure("encoder") { model.embed(Tensor(shape: [256, 256, 3], data: pre.tensor)) }
        counter.locked { encodes += 1 }
        let slice = EncodedSlice(embedding: embedding, pre: PreprocessedGeometry(
            newHeight: pre.newHeight, newWidth: pre.newWidth, originalHeight: pre.originalHeight, originalWidth: pre.originalWidth),
            compact: compactEmbeddings)
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
            // Post-processing crops the logits to the resized image: the padding's are not computed.
            let logits = model.decode(ctx, boxes: batch, within: (pre.newHeight, pre.newWidth))
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
        if boxes.isEmpty { return [] }   // no prompt, no encoder run
        let slice = encode(image, key: key)
        return masks(slice, boxes256: boxes.map { Preprocess.box($0, originalHeight: image.height, originalWidth: image.width) })
    }

    /// 3D: a label map [depth * H * W], label i + 1 for box i, later boxes over earlier ones.
    /// `slice(z)` gives slice z (called from one thread at a time, not always the caller's);
    /// `progress` reports slice decodes (propagate: one per object and slice) or slices
    /// (per-slice), and the slices encoded, with their times (`StackProgress`). With more than one engine thread, each worker runs whole slices on
    /// one thread (StackRunner); the masks are the same either way. Once `stop()` answers true
    /// no further slice is started, and the labels hold the steps done (progress says how many).
    public func segment3D(depth: Int, height: Int, width: Int, slice: (Int) -> ImageU8, boxes: [StackBox],
                          strategy: Strategy3D, progress: (StackProgress) -> Void = { _ in },
                          stop: () -> Bool = { false }) -> [UInt16] {
        let plane = height * width
        var labels = [UInt16](repeating: 0, count: depth * plane)
        let steps = strategy == .propagate ? StackSchedule.propagate(boxes, depth: depth) : StackSchedule.perSlice(boxes, depth: depth)
        let ownBoxes = boxes.map { Preprocess.box($0.box, originalHeight: height, originalWidth: width) }
        let total = strategy == .propagate ? steps.reduce(0) { $0 + $1.items.count } : steps.count
        let lock = Monitor()
        var state = StackProgress(total: total, toEncode: Set(steps.map(\.z)).filter { !cache.contains($0) }.count)
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
        // Boxes the masks made, for the next slice of each object: [object * depth + z], nil
        // where the mask was empty (then the object's own box is used).
        var derived: [Int: [Float]?] = [:]
        labels.withUnsafeMutableBufferPointer { out in
            StackRunner.run(zs: steps.map(\.z), ordered: strategy == .propagate, workers: Parallel.threads, lookahead: 8 * Parallel.threads,
                            cached: { self.cache.contains($0) }, encode: { z in
                let image = lock.locked { slice(z) }, fresh = !self.cache.contains(z), t = DispatchTime.now().uptimeNanoseconds
                let encoded = self.encode(image, key: z)
                if fresh { lock.locked { state.encoded += 1; state.encodeSeconds += seconds(since: t) } }
                return encoded
            },
                            decode: { k, encoded in
                let step = steps[k]
                let stepBoxes = lock.locked {
                    step.items.map { item in item.from.flatMap { derived[item.object * depth + $0] ?? nil } ?? ownBoxes[item.object] }
                }
                let t = DispatchTime.now().uptimeNanoseconds
                let ms = self.masks(encoded, boxes256: stepBoxes)
                let decodeSeconds = seconds(since: t)
                let made = strategy == .propagate ? ms.map { self.bbox256($0, height: height, width: width) } : []
                // Later objects win: labels only grow (steps on the same slice never overlap in time).
                let base = step.z * plane
                for (item, m) in zip(step.items, ms) {
                    let label = UInt16(item.object + 1)
                    for p in 0..<plane where m[p] != 0 && out[base + p] < label { out[base + p] = label }
                }
                lock.locked {
                    for (item, box) in zip(step.items, made) { derived[item.object * depth + step.z] = box }
                    state.done += strategy == .propagate ? step.items.count : 1
                    state.decodeSeconds += decodeSeconds
                    progress(state)
                }
            }, stop: stop)
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
