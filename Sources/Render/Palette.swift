// Colour modes and palettes: what the terminal can show, nearest colours for 256 and 16-colour
// terminals, and label colours.

public enum ColorMode: String, Sendable {
    case trueColor, color256, color16

    /// COLORTERM truecolor/24bit or a "direct" TERM -> trueColor; 256 colours -> color256; else color16.
    public static func detect(environment: [String: String], terminalColors: Int) -> ColorMode {
        let ct = (environment["COLORTERM"] ?? "").lowercased()
        if ct == "truecolor" || ct == "24bit" { return .trueColor }
        let term = (environment["TERM"] ?? "").lowercased()
        if term.contains("direct") { return .trueColor }
        if terminalColors >= 256 || term.contains("256color") { return .color256 }
        return .color16
    }
}

public enum Palette {
    /// xterm's 6x6x6 cube levels.
    static let cube: [Int] = [0, 95, 135, 175, 215, 255]

    static func cubeIndex(_ v: UInt8) -> Int {
        let v = Int(v)
        if v < 48 { return 0 }
        if v < 115 { return 1 }
        return (v - 35) / 40
    }

    static func dist(_ a: RGB, _ r: Int, _ g: Int, _ b: Int) -> Int {
        let (dr, dg, db) = (Int(a.r) - r, Int(a.g) - g, Int(a.b) - b)
        return dr * dr + dg * dg + db * db
    }

    /// Nearest xterm-256 colour among the cube (16...231) and the gray ramp (232...255).
    public static func xterm256(_ c: RGB) -> UInt8 {
        let (ir, ig, ib) = (cubeIndex(c.r), cubeIndex(c.g), cubeIndex(c.b))
        let cubeDist = dist(c, cube[ir], cube[ig], cube[ib])
        let avg = (Int(c.r) + Int(c.g) + Int(c.b)) / 3
        let gi = avg > 238 ? 23 : max(0, (avg - 3) / 10)
        let gv = 8 + 10 * gi
        let grayDist = dist(c, gv, gv, gv)
        return grayDist < cubeDist ? UInt8(232 + gi) : UInt8(16 + 36 * ir + 6 * ig + ib)
    }

    /// The 16 standard colours (xterm defaults).
    static let ansi: [(Int, Int, Int)] = [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ]

    public static func ansi16(_ c: RGB) -> UInt8 {
        var best = 0, bestD = Int.max
        for (i, a) in ansi.enumerated() {
            let d = dist(c, a.0, a.1, a.2)
            if d < bestD { (best, bestD) = (i, d) }
        }
        return UInt8(best)
    }

    static let labels: [RGB] = [
        RGB(230, 25, 75), RGB(60, 180, 75), RGB(255, 225, 25), RGB(0, 130, 200), RGB(245, 130, 48),
        RGB(145, 30, 180), RGB(70, 240, 240), RGB(240, 50, 230), RGB(210, 245, 60), RGB(250, 190, 212),
        RGB(0, 128, 128), RGB(220, 190, 255), RGB(170, 110, 40), RGB(255, 250, 200), RGB(128, 0, 0),
        RGB(170, 255, 195), RGB(128, 128, 0), RGB(255, 215, 180), RGB(0, 0, 128), RGB(128, 128, 128),
    ]

    /// Distinct colours for labels 1, 2, ... (cycling after 20); 0 is black.
    public static func label(_ label: Int) -> RGB {
        label <= 0 ? RGB(0, 0, 0) : labels[(label - 1) % labels.count]
    }
}
