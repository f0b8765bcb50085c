// What the CPU can do, read once from /proc/cpuinfo (Linux), for choosing int8 and bf16 paths.
#if canImport(Glibc)
import Glibc
#endif

public enum CPUFeatures {
    /// The flags of the first processor in /proc/cpuinfo (empty where it cannot be read), less
    /// those named in MEDSEG_CPU_FLAGS_OFF (comma-separated): to run the paths of CPUs without
    /// them, e.g. `MEDSEG_CPU_FLAGS_OFF=avx512_bf16,avx512_vnni` (with ONEDNN_MAX_CPU_ISA for
    /// oneDNN's own kernels).
    public static let flags: Set<Substring> = {
        let off = Set((getenv("MEDSEG_CPU_FLAGS_OFF").map { String(cString: $0) } ?? "").split(separator: ","))
        return cpuinfoFlags().subtracting(off)
    }()

    private static func cpuinfoFlags() -> Set<Substring> {
        guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 1 << 16)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("flags"), let colon = s.firstIndex(of: ":") {
                return Set(s[s.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }))
            }
        }
        return []
    }

    /// 8-bit dot products (AVX-512 VNNI or AVX-VNNI): full 8-bit activations in int8 products.
    public static var vnni: Bool { flags.contains("avx512_vnni") || flags.contains("avx_vnni") }

    /// bfloat16 dot products (AVX-512 BF16 or AMX): bf16 products at about twice the fp32 rate.
    public static var bf16: Bool { flags.contains("avx512_bf16") || flags.contains("amx_bf16") }
}
