/// Just enough JSON for the control socket without Foundation: strings quoted for the
/// request, and a parser for the answer (objects, arrays, strings with every escape,
/// numbers, literals).
enum JSON {
    indirect enum Value {
        case object([String: Value]), array([Value]), string(String), number(Double), bool(Bool), null
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func array(_ a: [String]) -> String { "[" + a.map(quote).joined(separator: ",") + "]" }

    struct Parser {
        let b: [UInt8]
        var i = 0
        init(_ bytes: [UInt8]) { b = bytes }

        mutating func parse() -> Value? {
            let v = value()
            skip()
            return i == b.count ? v : nil
        }

        mutating func skip() { while i < b.count, [0x20, 0x0a, 0x0d, 0x09].contains(b[i]) { i += 1 } }

        mutating func value() -> Value? {
            skip()
            guard i < b.count else { return nil }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var o: [String: Value] = [:]
                skip()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    skip()
                    guard case .string(let k)? = value() else { return nil }
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                    i += 1
                    guard let v = value() else { return nil }
                    o[k] = v
                    skip()
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                    return nil
                }
            case UInt8(ascii: "["):
                i += 1
                var a: [Value] = []
                skip()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    guard let v = value() else { return nil }
                    a.append(v)
                    skip()
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    return nil
                }
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default:
                let start = i
                while i < b.count, "+-0123456789.eE".utf8.contains(b[i]) { i += 1 }
                return Double(String(decoding: b[start..<i], as: UTF8.self)).map { .number($0) }
            }
        }

        mutating func literal(_ word: String, _ v: Value) -> Value? {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { return nil }
            i += w.count
            return v
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
            i += 4
            return v
        }

        mutating func string() -> String? {
            i += 1
            var bytes: [UInt8] = []
            while i < b.count {
                let c = b[i]
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
                guard c == UInt8(ascii: "\\") else { bytes.append(c); continue }
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): bytes.append(0x0a)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "r"): bytes.append(0x0d)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0c)
                case UInt8(ascii: "u"):
                    guard var v = hex4() else { return nil }
                    // A surrogate pair is one scalar.
                    if (0xd800..<0xdc00).contains(v), i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        guard let lo = hex4() else { return nil }
                        v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00)
                    }
                    bytes += Array(String(Unicode.Scalar(v).map(Character.init) ?? "\u{fffd}").utf8)
                default: bytes.append(e) // \" \\ \/
                }
            }
            return nil
        }
    }
}
