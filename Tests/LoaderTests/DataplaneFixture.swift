import Compiler
import Foundation
import IptParse

/// One fixtures/dataplane/*.dp file: the tables to install, then packets with the
/// expected XDP action and counter position. The format is described at the top of
/// every fixture file.
struct DataplaneFixture {
    struct Probe {
        var line: Int
        var text: String
        var packet: TestPacket
        var expectPass: Bool
        /// Counter expected to gain one packet: a position, `policy` (-1), or none (nil).
        var counter: Int?
    }

    var tables = CompiledTables()
    var probes: [Probe] = []

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static func proto(_ s: Substring) -> UInt8? {
        switch s {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        case "sctp": return 132
        case "udplite": return 136
        case "dccp": return 33
        default: return UInt8(s)
        }
    }

    static func prefix(_ s: Substring) -> CompiledTables.Prefix? {
        let p = s.split(separator: "/")
        guard let a = ipv4(p[0]) else { return nil }
        let len = p.count > 1 ? UInt8(p[1]) : 32
        guard let len, len <= 32 else { return nil }
        return CompiledTables.Prefix(address: a, length: len)
    }

    static func range<T: FixedWidthInteger>(_ s: Substring, _: T.Type) -> ClosedRange<T>? {
        let p = s.split(separator: ":")
        guard let lo = T(p[0]) else { return nil }
        let hi = p.count > 1 ? T(p[1]) : lo
        guard let hi, lo <= hi else { return nil }
        return lo...hi
    }

    static func parse(_ text: String) throws -> DataplaneFixture {
        var f = DataplaneFixture()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let w = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let head = w.first else { continue }
            func fail(_ why: String) -> ParseError { ParseError(description: "line \(n + 1): \(why): \(raw)") }
            switch head {
            case "verdicts":
                f.tables.verdicts = try w.dropFirst().map {
                    switch $0 { case "accept": return .accept; case "drop": return .drop; default: throw fail("verdict") }
                }
            case "policy":
                guard w.count == 2 else { throw fail("policy") }
                f.tables.policy = w[1] == "drop" ? .drop : .accept
            case "catchall":
                guard w.count == 2, let p = UInt32(w[1]) else { throw fail("catchall") }
                f.tables.catchAll = p
            case "needsct":
                f.tables.needsConntrack = true
            case "protoport":
                guard w.count == 4, let pr = proto(w[1]), let pos = UInt32(w[3]) else { throw fail("protoport") }
                f.tables.protoPort[.init(proto: pr, port: w[2] == "any" ? nil : UInt16(w[2]))] = pos
            case "src":
                guard w.count == 3, let p = prefix(w[1]), let pos = UInt32(w[2]) else { throw fail("src") }
                f.tables.source[p] = pos
            case "srcprotoport":
                guard w.count == 5, let p = prefix(w[1]), let pr = proto(w[2]), let pos = UInt32(w[4]) else { throw fail("srcprotoport") }
                f.tables.sourceProtoPort[.init(source: p, protoPort: .init(proto: pr, port: w[3] == "any" ? nil : UInt16(w[3])))] = pos
            case "fallback":
                guard w.count >= 2, let pos = UInt32(w[1]) else { throw fail("fallback position") }
                f.tables.fallback.append(try fallback(pos, Array(w.dropFirst(2)), fail))
            case "packet":
                f.probes.append(try probe(Array(w.dropFirst()), line: n + 1, text: String(raw), fail))
            default:
                throw fail("unknown keyword")
            }
        }
        return f
    }

    static func fallback(_ pos: UInt32, _ w: [Substring], _ fail: (String) -> ParseError) throws -> CompiledTables.FallbackRule {
        var r = CompiledTables.FallbackRule(position: pos)
        var i = 0
        while i < w.count {
            var key = w[i]
            let neg = key.hasPrefix("!")
            if neg { key = key.dropFirst() }
            if key == "frag" { r.fragment = !neg; i += 1; continue }
            guard i + 1 < w.count else { throw fail("missing value after \(key)") }
            let v = w[i + 1]
            i += 2
            switch key {
            case "src": guard let p = prefix(v) else { throw fail("src") }; r.source = Negatable(p, negated: neg)
            case "dst": guard let p = prefix(v) else { throw fail("dst") }; r.destination = Negatable(p, negated: neg)
            case "proto": guard let p = proto(v) else { throw fail("proto") }; r.proto = Negatable(p, negated: neg)
            case "sport": guard let p = range(v, UInt16.self) else { throw fail("sport") }; r.sourcePorts = Negatable(p, negated: neg)
            case "dport": guard let p = range(v, UInt16.self) else { throw fail("dport") }; r.destinationPorts = Negatable(p, negated: neg)
            case "ports": guard let p = range(v, UInt16.self) else { throw fail("ports") }; r.eitherPort = Negatable(p, negated: neg)
            case "len": guard let p = range(v, UInt16.self) else { throw fail("len") }; r.length = Negatable(p, negated: neg)
            case "flags":
                let p = v.split(separator: "/")
                guard p.count == 2, let m = UInt8(p[0].dropFirst(2), radix: 16), let c = UInt8(p[1].dropFirst(2), radix: 16) else { throw fail("flags") }
                r.tcpFlags = Negatable(TCPFlags(mask: m, compare: c), negated: neg)
            case "icmp":
                let p = v.split(separator: "/")
                guard let t = UInt8(p[0]), let codes = p.count > 1 ? range(p[1], UInt8.self) : 0...255 else { throw fail("icmp") }
                r.icmp = Negatable(.init(type: t, codes: codes), negated: neg)
            case "ct":
                var s: ConntrackStates = []
                for name in v.split(separator: ",") {
                    switch name {
                    case "INVALID": s.insert(.invalid)
                    case "NEW": s.insert(.new)
                    case "RELATED": s.insert(.related)
                    case "ESTABLISHED": s.insert(.established)
                    case "UNTRACKED": s.insert(.untracked)
                    default: throw fail("ct state")
                    }
                }
                r.conntrack = Negatable(s, negated: neg)
            case "ttl":
                guard i < w.count, let val = UInt8(w[i]), let op = TTLMatch.Operator(rawValue: String(v)) else { throw fail("ttl") }
                i += 1
                r.ttl = TTLMatch(op: op, value: val)
            default: throw fail("unknown test \(key)")
            }
        }
        return r
    }

    static func probe(_ w: [Substring], line: Int, text: String, _ fail: (String) -> ParseError) throws -> Probe {
        guard let arrow = w.firstIndex(of: "=>"), w.count >= 4, w[2] == ">" else { throw fail("packet syntax") }
        var p = TestPacket()
        guard let pr = proto(w[0]) else { throw fail("proto") }
        p.proto = pr
        let s = w[1].split(separator: ":"), d = w[3].split(separator: ":")
        guard let sa = ipv4(s[0]), let da = ipv4(d[0]) else { throw fail("address") }
        p.src = sa
        p.dst = da
        if s.count > 1 { p.sport = UInt16(s[1]) ?? 0 }
        if d.count > 1 { p.dport = UInt16(d[1]) ?? 0 }
        var i = 4
        while i < arrow {
            let k = w[i]
            let v = i + 1 < arrow ? w[i + 1] : ""
            i += 2
            switch k {
            case "flags": p.tcpFlags = UInt8(v.dropFirst(2), radix: 16) ?? 0
            case "icmp":
                let tc = v.split(separator: "/")
                p.icmpType = UInt8(tc[0]) ?? 0
                p.icmpCode = tc.count > 1 ? UInt8(tc[1]) ?? 0 : 0
            case "ttl": p.ttl = UInt8(v) ?? 64
            case "len": p.totalLength = Int(v)
            case "off": p.fragmentOffset = UInt16(v) ?? 0
            case "id": p.id = UInt16(v) ?? 0
            case "ihl": p.ihl = Int(v) ?? 5
            case "l4": p.l4Bytes = Int(v)
            case "ether": p.etherType = UInt16(v.dropFirst(2), radix: 16) ?? 0
            case "mf": p.moreFragments = true; i -= 1
            case "vlan": p.vlan = true; i -= 1
            default: throw fail("unknown packet option \(k)")
            }
        }
        let out = w[(arrow + 1)...]
        guard let action = out.first, action == "PASS" || action == "DROP", out.count == 2 else { throw fail("expected => PASS|DROP POS|policy|none") }
        let c = out[out.startIndex + 1]
        let counter: Int? = c == "none" ? nil : c == "policy" ? -1 : Int(c)
        if c != "none" && counter == nil { throw fail("counter") }
        return Probe(line: line, text: text, packet: p, expectPass: action == "PASS", counter: counter)
    }
}
