// A small, safe pickle reader for PyTorch checkpoints: it interprets the opcodes torch's
// serialisation uses and builds plain values. No code ever runs: globals are just names; the
// few torch rebuild functions are recognised by name, anything else becomes an opaque value.

/// A value from a pickle. Lists and dicts are classes because pickles mutate them after creation.
indirect enum PickleValue {
    case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
    case tuple([PickleValue]), list(PickleList), dict(PickleDict)
    case global(module: String, name: String)
    case storage(key: String, type: String, count: Int)
    case tensor(storage: String, type: String, offset: Int, size: [Int], stride: [Int])
    case opaque(String)
    case mark
}

final class PickleList { var items: [PickleValue] = [] }
final class PickleDict {
    var keys: [String] = []
    var values: [String: PickleValue] = [:]
    func set(_ k: PickleValue, _ v: PickleValue) {
        let key: String
        switch k {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: return  // non-string keys (optimizer state ids are ints; others) are not needed
        }
        if values[key] == nil { keys.append(key) }
        values[key] = v
    }
}

struct PickleError: Error { let message: String }

/// Interprets a pickle byte stream (protocols 2-5, the opcodes torch.save emits).
struct PickleReader {
    let b: [UInt8]
    var i = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]

    init(_ bytes: [UInt8]) { b = bytes }

    mutating func byte() throws -> UInt8 {
        guard i < b.count else { throw PickleError(message: "pickle ends early") }
        defer { i += 1 }
        return b[i]
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= b.count - i else { throw PickleError(message: "pickle ends early") }
        defer { i += n }
        return b[i..<(i + n)]
    }

    mutating func uint(_ n: Int) throws -> Int {
        var v = 0
        for (k, x) in try take(n).enumerated() { v |= Int(x) << (8 * k) }
        return v
    }

    mutating func line() throws -> String {
        guard let end = b[i...].firstIndex(of: 10) else { throw PickleError(message: "pickle ends early") }
        defer { i = end + 1 }
        return String(decoding: b[i..<end], as: UTF8.self)
    }

    mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw PickleError(message: "pickle stack underflow") }
        return v
    }

    mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw PickleError(message: "pickle mark missing") }
        defer { stack.removeSubrange(m...) }
        return Array(stack[m...])
    }

    mutating func run() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                     // PROTO
            case 0x95: _ = try take(8)                                    // FRAME
            case 0x2E: return try pop()                                   // STOP
            case 0x28: marks.append(stack.count)                          // MARK
            case 0x7D: stack.append(.dict(PickleDict()))                  // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))                  // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                           // EMPTY_TUPLE
            case 0x4E: stack.append(.none)                                // NONE
            case 0x88: stack.append(.bool(true))                          // NEWTRUE
            case 0x89: stack.append(.bool(false))                         // NEWFALSE
            case 0x4B: stack.append(.int(try uint(1)))                    // BININT1
            case 0x4D: stack.append(.int(try uint(2)))                    // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:                                                    // LONG1
                let n = Int(try byte())
                let bytes = try take(n)
                guard n <= 8 else { stack.append(.opaque("long")); continue }
                var v: UInt64 = 0
                for (k, x) in bytes.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
                if n > 0, n < 8, bytes.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }
                stack.append(.int(Int(Int64(bitPattern: v))))
            case 0x47:                                                    // BINFLOAT (big-endian)
                var v: UInt64 = 0
                for x in try take(8) { v = v << 8 | UInt64(x) }
                stack.append(.float(Double(bitPattern: v)))
            case 0x58: stack.append(.string(String(decoding: try take(try uint(4)), as: UTF8.self)))    // BINUNICODE
            case 0x8C: stack.append(.string(String(decoding: try take(try uint(1)), as: UTF8.self)))    // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(String(decoding: try take(try uint(8)), as: UTF8.self)))    // BINUNICODE8
            case 0x55: stack.append(.string(String(decoding: try take(try uint(1)), as: UTF8.self)))    // SHORT_BINSTRING
            case 0x54: stack.append(.string(String(decoding: try take(try uint(4)), as: UTF8.self)))    // BINSTRING
            case 0x43: stack.append(.bytes(Array(try take(try uint(1)))))                               // SHORT_BINBYTES
            case 0x42: stack.append(.bytes(Array(try take(try uint(4)))))                               // BINBYTES
            case 0x71: memo[try uint(1)] = stack.last                     // BINPUT
            case 0x72: memo[try uint(4)] = stack.last                     // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                      // MEMOIZE
            case 0x68, 0x6A:                                              // BINGET, LONG_BINGET
                let k = try uint(op == 0x68 ? 1 : 4)
                guard let v = memo[k] else { throw PickleError(message: "pickle refers to a missing memo entry") }
                stack.append(v)
            case 0x63:                                                    // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module: module, name: name))
            case 0x93:                                                    // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else { throw PickleError(message: "bad STACK_GLOBAL") }
                stack.append(.global(module: m, name: n))
            case 0x85: stack.append(.tuple([try pop()]))                  // TUPLE1
            case 0x86: let b2 = try pop(), a = try pop(); stack.append(.tuple([a, b2]))            // TUPLE2
            case 0x87: let c = try pop(), b2 = try pop(), a = try pop(); stack.append(.tuple([a, b2, c]))  // TUPLE3
            case 0x74: stack.append(.tuple(try popMark()))                // TUPLE
            case 0x6C:                                                    // LIST
                let l = PickleList(); l.items = try popMark(); stack.append(.list(l))
            case 0x64:                                                    // DICT
                let items = try popMark(), d = PickleDict()
                for k in stride(from: 0, to: items.count - 1, by: 2) { d.set(items[k], items[k + 1]) }
                stack.append(.dict(d))
            case 0x61:                                                    // APPEND
                let v = try pop()
                if case .list(let l) = stack.last { l.items.append(v) }
            case 0x65:                                                    // APPENDS
                let items = try popMark()
                if case .list(let l) = stack.last { l.items += items }
            case 0x73:                                                    // SETITEM
                let v = try pop(), k = try pop()
                if case .dict(let d) = stack.last { d.set(k, v) }
            case 0x75:                                                    // SETITEMS
                let items = try popMark()
                if case .dict(let d) = stack.last {
                    for k in stride(from: 0, to: items.count - 1, by: 2) { d.set(items[k], items[k + 1]) }
                }
            case 0x62: _ = try pop()                                      // BUILD: state is not needed
            case 0x51: stack.append(try persistent(try pop()))            // BINPERSID
            case 0x52:                                                    // REDUCE
                let args = try pop(), fn = try pop()
                stack.append(try reduce(fn, args))
            case 0x81:                                                    // NEWOBJ
                _ = try pop()
                let cls = try pop()
                if case .global(let m, let n) = cls, m == "collections", n == "OrderedDict" { stack.append(.dict(PickleDict())) }
                else { stack.append(.opaque("object")) }
            case 0x30: _ = try pop()                                      // POP
            case 0x31: _ = try popMark()                                  // POP_MARK
            case 0x32: if let t = stack.last { stack.append(t) }          // DUP
            default:
                throw PickleError(message: "unsupported pickle opcode 0x\(String(op, radix: 16)) at byte \(i - 1)")
            }
        }
    }

    /// torch's persistent ids: ('storage', <StorageType>, key, location, numel).
    func persistent(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid, t.count >= 5, case .string("storage") = t[0], case .string(let key) = t[2],
              case .int(let count) = t[4] else { throw PickleError(message: "unknown persistent id in checkpoint") }
        var type = "FloatStorage"
        if case .global(_, let n) = t[1] { type = n }
        return .storage(key: key, type: type, count: count)
    }

    func reduce(_ fn: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = fn else { return .opaque("call") }
        let a: [PickleValue]
        if case .tuple(let t) = args { a = t } else { a = [] }
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"):
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            guard a.count >= 4, case .storage(let key, let type, _) = a[0], case .int(let offset) = a[1],
                  case .tuple(let sz) = a[2], case .tuple(let st) = a[3] else { throw PickleError(message: "malformed tensor record") }
            let size = try sz.map { v -> Int in guard case .int(let x) = v else { throw PickleError(message: "malformed tensor size") }; return x }
            let stride = try st.map { v -> Int in guard case .int(let x) = v else { throw PickleError(message: "malformed tensor stride") }; return x }
            return .tensor(storage: key, type: type, offset: offset, size: size, stride: stride)
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            return a.first ?? .none
        default:
            return .opaque("\(module).\(name)")
        }
    }
}
