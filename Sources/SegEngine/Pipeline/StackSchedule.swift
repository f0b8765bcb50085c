// The order in which a 3D case's slices are decoded: one step per visit of a slice, every object
// on it decoded together. The official propagation (each object: up from its middle slice, then
// down from it) becomes two sweeps over all objects at once, up from the lowest middle slice and
// then down, so each step needs only the masks the step before it made, and a slice's embedding
// serves all its objects while it is at hand.

/// One slice's decodes: the objects on slice `z`, in label order.
public struct StackStep: Equatable, Sendable {
    public struct Item: Equatable, Sendable {
        public let object: Int
        /// The slice whose mask of this object gives its box; nil: the object's own box.
        public let from: Int?
        public init(object: Int, from: Int?) { self.object = object; self.from = from }
    }
    public let z: Int
    public let items: [Item]
    public init(z: Int, items: [Item]) { self.z = z; self.items = items }
}

public enum StackSchedule {
    /// Each box's slice range clamped to the volume; nil where nothing is left.
    static func ranges(_ boxes: [StackBox], depth: Int) -> [ClosedRange<Int>?] {
        boxes.map { b in
            let z0 = max(0, b.z0), z1 = min(depth - 1, b.z1)
            return z0 <= z1 ? z0...z1 : nil
        }
    }

    /// The official protocol's middle slice of a range.
    static func middle(_ r: ClosedRange<Int>) -> Int {
        Int(Double(r.upperBound - r.lowerBound) / 2 + Double(r.lowerBound))
    }

    /// Strategy3D.propagate: the up sweep (each object from its middle slice, which uses its own
    /// box, to its top, each next slice boxed by the mask below), then the down sweep (from just
    /// under each middle slice to the bottom, each boxed by the mask above).
    public static func propagate(_ boxes: [StackBox], depth: Int) -> [StackStep] {
        let r = ranges(boxes, depth: depth)
        let live = r.indices.filter { r[$0] != nil }
        guard !live.isEmpty else { return [] }
        let mid = r.map { $0.map(middle) }
        var steps: [StackStep] = []
        let upFrom = live.map { mid[$0]! }.min()!, upTo = live.map { r[$0]!.upperBound }.max()!
        for z in upFrom...upTo {
            let items = live.filter { mid[$0]! <= z && z <= r[$0]!.upperBound }
                .map { StackStep.Item(object: $0, from: z == mid[$0]! ? nil : z - 1) }
            if !items.isEmpty { steps.append(StackStep(z: z, items: items)) }
        }
        let below = live.filter { r[$0]!.lowerBound < mid[$0]! }
        guard !below.isEmpty else { return steps }
        let downFrom = below.map { mid[$0]! - 1 }.max()!, downTo = below.map { r[$0]!.lowerBound }.min()!
        for z in stride(from: downFrom, through: downTo, by: -1) {
            let items = below.filter { r[$0]!.lowerBound <= z && z < mid[$0]! }.map { StackStep.Item(object: $0, from: z + 1) }
            if !items.isEmpty { steps.append(StackStep(z: z, items: items)) }
        }
        return steps
    }

    /// Strategy3D.perSlice: every slice any box covers, bottom to top, each object with its own box.
    public static func perSlice(_ boxes: [StackBox], depth: Int) -> [StackStep] {
        let r = ranges(boxes, depth: depth)
        var byZ: [Int: [StackStep.Item]] = [:]
        for (i, range) in r.enumerated() {
            guard let range else { continue }
            for z in range { byZ[z, default: []].append(StackStep.Item(object: i, from: nil)) }
        }
        return byZ.keys.sorted().map { StackStep(z: $0, items: byZ[$0]!) }
    }
}
