// Intensity windowing: from stored intensities to the 0-255 the model and the screen see.
// CT presets are in Hounsfield units; MR and other modalities use MedSAM's percentile rule
// (0.5th-99.5th percentile of the nonzero voxels, zeros kept at zero).

/// A window: intensities in [level - width/2, level + width/2] map linearly onto 0...255.
public struct Window: Sendable, Equatable {
    public var width: Double
    public var level: Double
    public init(width: Double, level: Double) {
        self.width = max(width, 1e-6)
        self.level = level
    }
    public var lower: Double { level - width / 2 }
    public var upper: Double { level + width / 2 }
}

/// Named windows offered by the workbench and the CLI.
public enum WindowPreset: String, CaseIterable, Sendable {
    case softTissue = "soft-tissue", lung, bone, brain, auto

    /// The CT window in HU, or nil for `auto` (percentile windowing of the data at hand).
    public var ctWindow: Window? {
        switch self {
        case .softTissue: return Window(width: 400, level: 40)   // MedSAM's CT abdomen window
        case .lung: return Window(width: 1500, level: -600)
        case .bone: return Window(width: 1800, level: 400)
        case .brain: return Window(width: 80, level: 40)
        case .auto: return nil
        }
    }
}

public enum Windowing {
    /// Maps `values` through `window` to UInt8 (truncating, as `astype(np.uint8)` does after scaling).
    /// NaN (a float image's "no value") maps to 0; infinities clamp to the window's ends.
    public static func apply(_ values: [Float], window: Window) -> [UInt8] {
        let lo = Float(window.lower), scale = Float(255.0 / window.width)
        return values.map { v in
            let t = (min(max(v, lo), Float(window.upper)) - lo) * scale
            return t.isNaN ? 0 : UInt8(min(max(t, 0), 255))
        }
    }

    /// MedSAM's MR rule: the window spans the 0.5th to 99.5th percentile of the nonzero voxels
    /// (finite ones: NaN and infinities are left out). Returns nil when there is none.
    public static func percentileWindow(_ values: [Float], lowerPercent: Double = 0.5, upperPercent: Double = 99.5) -> Window? {
        var nonzero = values.filter { $0 != 0 && $0.isFinite }
        guard !nonzero.isEmpty else { return nil }
        let lo = percentile(&nonzero, lowerPercent)
        let hi = percentile(&nonzero, upperPercent)
        return Window(width: max(hi - lo, 1e-6), level: (hi + lo) / 2)
    }

    /// Windowing with MedSAM's percentile rule where voxels that were 0 stay 0.
    /// Whether every value is a whole number from 0 to 255: an 8-bit image stored in a wider
    /// type, whose values are the pixels as they are (not windowed; a 0-1 float image is not one).
    public static func holdsWholeBytes(_ values: [Float]) -> Bool {
        values.allSatisfy { $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }
    }

    public static func applyPercentile(_ values: [Float]) -> [UInt8] {
        guard let w = percentileWindow(values) else { return [UInt8](repeating: 0, count: values.count) }
        var out = apply(values, window: w)
        for i in values.indices where values[i] == 0 { out[i] = 0 }
        return out
    }

    /// numpy's default (linear) percentile, by selection in O(n); reorders `values`.
    public static func percentile(_ values: inout [Float], _ q: Double) -> Double {
        precondition(!values.isEmpty)
        let rank = q / 100 * Double(values.count - 1)
        let k = Int(rank.rounded(.down))
        let a = Double(select(&values, k))
        guard k + 1 < values.count, rank > Double(k) else { return a }
        // The next order statistic is the minimum of the part above k after selection.
        var b = Float.infinity
        for v in values[(k + 1)...] where v < b { b = v }
        return a + (Double(b) - a) * (rank - Double(k))
    }

    /// Quickselect: puts the k-th smallest element at index k (elements below are <=, above are >=).
    static func select(_ a: inout [Float], _ k: Int) -> Float {
        var lo = 0, hi = a.count - 1
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        while lo < hi {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let p = a[lo + Int((seed >> 33) % UInt64(hi - lo + 1))]
            var i = lo, j = hi
            while i <= j {
                while a[i] < p { i += 1 }
                while a[j] > p { j -= 1 }
                if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { break }
        }
        return a[k]
    }
}
