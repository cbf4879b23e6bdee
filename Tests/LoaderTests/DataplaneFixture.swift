import Compiler
import Foundation
import IptParse
import Loader

/// One fixtures/dataplane/*.dp file: the tables to install (one generation, or two for a
/// transition), then steps: packets with the expected XDP action, deciding position and
/// stats field, and changes of the live controls. The format is described at the top of
/// every fixture file.
struct DataplaneFixture {
    /// Which `stats` field a packet lands in (enum eipt_stat).
    enum Stat: String, CaseIterable {
        case untouched, passed, dropped, route, nat, guardPassed = "guard", split, fragment
        case rejected, rejectLimited = "reject-limited", rejectPassed = "reject-passed"
        /// An IPv6 ethertype: the IPv6 path (bpf/ipv6.h) takes the frame and counts it in its
        /// own statistics (v6_stats), so no IPv4 field moves.
        case ipv6

        func value(_ s: DataplaneStats) -> UInt64 {
            switch self {
            case .untouched: return s.untouched
            case .passed: return s.passed
            case .dropped: return s.dropped
            case .route: return s.routePassed
            case .nat: return s.natPassed
            case .guardPassed: return s.guardPassed
            case .split: return s.splitPassed
            case .fragment: return s.fragmentPassed
            case .ipv6: return 0
            case .rejected: return s.rejected
            case .rejectLimited: return s.rejectLimited
            case .rejectPassed: return s.rejectPassed
            }
        }
    }

    struct Probe {
        var line: Int
        var text: String
        var packet: TestPacket
        var expectPass: Bool
        /// The live generation's deciding position: a position, `policy` (-1), or none (nil).
        var position: Int?
        var stat: Stat
        /// CONTINUE positions the packet matched first (`+P,Q` after the position): counted
        /// with the deciding one.
        var continued: [Int] = []
    }

    /// A change of the live controls between packets.
    enum Control: Equatable {
        case transition
        case guardSources([CompiledTables.Prefix])
        case passAll
        /// Cancel the transition, lift the guard, stop passing all.
        case normal
        /// Make the idle generation live (ends a transition).
        case activateIdle
        /// The copy of table 255 addrtype reads (`local` lines so far), marked valid at the
        /// namespace's current routing generation (re-marked before every later packet, so
        /// that a route change elsewhere on the machine does not make it stale), at an old
        /// one (stale), or invalid.
        case localRoutes([LocalRoutes.Entry], LocalGeneration)
    }

    enum LocalGeneration: String, Equatable {
        case current, stale, none
    }

    enum Step {
        case probe(Probe)
        case control(Control)
    }

    var tables = CompiledTables()
    /// The runs (`xdpOnly` false, true) the fixture is for: both unless a `runs` line says
    /// (a pending draw's outcome differs: XDP carries out ACCEPT only when INPUT is empty).
    var xdpOnlyRuns: [Bool] = [false, true]
    /// The idle generation's tables, for transitions.
    var idle: CompiledTables?
    var steps: [Step] = []
    var probes: [Probe] {
        steps.compactMap { if case .probe(let p) = $0 { return p } else { return nil } }
    }

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

    static func verdict(_ s: Substring) -> CompiledTables.Verdict? {
        switch s {
        case "accept": return .accept
        case "drop": return .drop
        case "kernel": return .kernel
        case "continue": return .continue
        case "continue-noct": return .continueWithoutEntry
        default: return nil
        }
    }

    static func parse(_ text: String) throws -> DataplaneFixture {
        var f = DataplaneFixture()
        var t = CompiledTables()
        var local: [LocalRoutes.Entry] = []
        var toIdle = false
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let w = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let head = w.first else { continue }
            func fail(_ why: String) -> ParseError { ParseError(description: "line \(n + 1): \(why): \(raw)") }
            switch head {
            case "idle":
                guard !toIdle else { throw fail("a second idle") }
                f.tables = t
                t = CompiledTables()
                toIdle = true
            case "verdicts":
                t.verdicts = try w.dropFirst().enumerated().map { (i, word) in
                    // reject:CODE (an ICMP unreachable code) or reject:tcp-reset
                    if word.hasPrefix("reject:") {
                        let kind = word.dropFirst("reject:".count)
                        guard let r = kind == "tcp-reset" ? RejectReply.tcpReset : UInt8(kind).map({ RejectReply.icmpUnreachable(code: $0) })
                        else { throw fail("reject kind") }
                        t.rejectReplies[UInt32(i)] = r
                        return .reject
                    }
                    guard let v = verdict(word) else { throw fail("verdict") }
                    return v
                }
            case "policy":
                guard w.count == 2, let v = verdict(w[1]) else { throw fail("policy") }
                t.policy = v
            case "catchall":
                guard w.count == 2, let p = UInt32(w[1]) else { throw fail("catchall") }
                t.catchAll = p
            case "needsct":
                t.needsConntrack = true
            case "natcheck":
                t.natCheck = true
            case "protoport":
                guard w.count == 4, let pr = proto(w[1]), let pos = UInt32(w[3]) else { throw fail("protoport") }
                t.protoPort[.init(proto: pr, port: w[2] == "any" ? nil : UInt16(w[2]))] = pos
            case "src":
                guard w.count == 3, let p = prefix(w[1]), let pos = UInt32(w[2]) else { throw fail("src") }
                t.source[p] = pos
            case "srcprotoport":
                guard w.count == 5, let p = prefix(w[1]), let pr = proto(w[2]), let pos = UInt32(w[4]) else { throw fail("srcprotoport") }
                t.sourceProtoPort[.init(source: p, protoPort: .init(proto: pr, port: w[3] == "any" ? nil : UInt16(w[3])))] = pos
            case "fallback":
                guard w.count >= 2, let pos = UInt32(w[1]) else { throw fail("fallback position") }
                t.fallback.append(try fallback(pos, Array(w.dropFirst(2)), fail))
            case "set":
                guard w.count >= 2 else { throw fail("set what") }
                switch w[1] {
                case "transition": f.steps.append(.control(.transition))
                case "passall": f.steps.append(.control(.passAll))
                case "localgen":
                    guard w.count == 3, let g = LocalGeneration(rawValue: String(w[2])) else { throw fail("localgen current|stale|none") }
                    f.steps.append(.control(.localRoutes(local, g)))
                case "normal": f.steps.append(.control(.normal))
                case "guard":
                    let prefixes = try w.dropFirst(2).map {
                        guard let p = prefix($0) else { throw fail("guard prefix") }
                        return p
                    }
                    f.steps.append(.control(.guardSources(prefixes)))
                default: throw fail("unknown set")
                }
            case "local":
                // local PREFIX TYPE IFINDEX [unsure]
                guard w.count == 4 || (w.count == 5 && w[4] == "unsure"), let p = prefix(w[1]),
                      let type = AddrTypeTest.rtnType(String(w[2])), let ifindex = UInt32(w[3]) else { throw fail("local") }
                local.append(LocalRoutes.Entry(destination: p.address, length: p.length, type: UInt8(type), ifindex: ifindex, unsure: w.count == 5))
            case "runs":
                // runs layered|xdponly: only that run of the two.
                guard w.count == 2, w[1] == "layered" || w[1] == "xdponly" else { throw fail("runs layered|xdponly") }
                f.xdpOnlyRuns = [w[1] == "xdponly"]
            case "activate":
                guard w.count == 2, w[1] == "idle" else { throw fail("activate idle") }
                f.steps.append(.control(.activateIdle))
            case "packet":
                f.steps.append(.probe(try probe(Array(w.dropFirst()), line: n + 1, text: String(raw), fail)))
            default:
                throw fail("unknown keyword")
            }
        }
        if toIdle { f.idle = t } else { f.tables = t }
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
            case "mac":
                guard let m = mac(v) else { throw fail("mac") }
                r.ext.append(.mac(m, negated: neg))
            case "addrtype":
                guard let a = addrtype(v) else { throw fail("addrtype") }
                r.ext.append(.addrtype(a, negated: neg))
            case "pkttype":
                let types: [Substring: UInt8] = ["unicast": 0, "broadcast": 1, "multicast": 2, "otherhost": 3]
                guard let t = types[v] else { throw fail("pkttype") }
                r.ext.append(.pkttype(t, negated: neg))
            case "hashlimit":
                // hashlimit NAME/BURST/MODE/SRCMASK/INST: 1/hour, MODE the XT_HASHLIMIT_HASH_* bits; ! is above.
                let f = v.split(separator: "/")
                guard f.count == 5, let burst = UInt32(f[1]), let mode = UInt32(f[2]), let mask = UInt8(f[3]), let k = Int(f[4]) else { throw fail("hashlimit") }
                var h = Hashlimit(name: String(f[0]), average: 3_600_000_000, burst: burst, mode: mode)
                h.sourceMask = mask
                r.ext.append(.hashlimit(h, negated: neg, instance: ExtInstance(rule: RuleRef(table: "filter", chain: "INPUT", index: k, line: nil), match: 0)))
            case "notlimit":
                // notlimit AVG/BURST/INST: the complement of limit INST's memoised answer
                // (ExtTest.memoNegation: a charged RETURN's staying packets).
                let n = v.split(separator: "/").compactMap { UInt32($0) }
                guard n.count == 3 else { throw fail("notlimit") }
                let inst = ExtInstance(rule: RuleRef(table: "filter", chain: "INPUT", index: Int(n[2]), line: nil), match: 0)
                r.ext.append(.memoNegation(.limit(average: n[0], burst: n[1], instance: inst)))
            case "limit", "nth", "random":
                // limit AVG/BURST/INST, nth EVERY-1/COUNT/INST, random P31/INST: INST names the
                // state (entries with the same INST share one bucket or counter).
                let n = v.split(separator: "/").compactMap { UInt32($0) }
                func inst(_ k: UInt32) -> ExtInstance {
                    ExtInstance(rule: RuleRef(table: "filter", chain: "INPUT", index: Int(k), line: nil), match: 0)
                }
                switch (key, n.count) {
                case ("limit", 3): r.ext.append(.limit(average: n[0], burst: n[1], instance: inst(n[2])))
                case ("nth", 3): r.ext.append(.statistic(.nth(every: n[0], count: n[1]), negated: neg, instance: inst(n[2])))
                case ("random", 2): r.ext.append(.statistic(.random(probability: n[0]), negated: neg, instance: inst(n[1])))
                default: throw fail(String(key))
                }
            case "string":
                // string ALGO:FROM:TO[:icase] PATTERN (PATTERN: text, %XX for a byte)
                let o = v.split(separator: ":")
                guard o.count >= 3, o[0] == "bm" || o[0] == "kmp", let from = UInt16(o[1]), let to = UInt16(o[2]),
                      i < w.count, let pat = escaped(w[i]) else { throw fail("string") }
                i += 1
                r.ext.append(.string(StringSearch(pattern: pat, from: from, to: to, boyerMoore: o[0] == "bm",
                                                  ignoreCase: o.count > 3 && o[3] == "icase"), negated: neg))
            case "xlen": // a second length test, as an ext row
                guard let p = range(v, UInt16.self) else { throw fail("xlen") }
                r.ext.append(.length(p, negated: neg))
            case "xttl": // a second TTL test, as an ext row: xttl eq|ne|lt|gt N
                guard i < w.count, let val = UInt8(w[i]), let op = TTLMatch.Operator(rawValue: String(v)) else { throw fail("xttl") }
                i += 1
                r.ext.append(.ttl(TTLMatch(op: op, value: val)))
            case "ctm":
                // ctm OPT=VALUE+OPT=!VALUE+...+natunknown: -m conntrack options as iptables-save
                // prints them (ctstate, ctproto NUMBER, ctorigsrc, ..., ctstatus, ctexpire,
                // ctdir); `!` before a value negates that option; natunknown: nat PREROUTING may
                // DNAT (EIPT_CTM_F_NEW_NAT_UNKNOWN).
                var c = ConntrackMatch()
                var natUnknown = false
                for part in v.split(separator: "+") {
                    if part == "natunknown" { natUnknown = true; continue }
                    let kv = part.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { throw fail("ctm") }
                    let negated = kv[1].hasPrefix("!")
                    let value = String(kv[1].dropFirst(negated ? 1 : 0))
                    if kv[0] == "ctstate" {
                        var st: ConntrackStates = []
                        let names: [String: ConntrackStates] = ["INVALID": .invalid, "NEW": .new, "RELATED": .related, "ESTABLISHED": .established,
                                                               "UNTRACKED": .untracked, "SNAT": .snat, "DNAT": .dnat]
                        for n in value.split(separator: ",") {
                            guard let one = names[String(n)] else { throw fail("ctm state") }
                            st.insert(one)
                        }
                        c.states = Negatable(st, negated: negated)
                    } else {
                        c.other.append(ExtensionOption(String(kv[0]), negated: negated, args: [value]))
                    }
                }
                guard let t = try? ConntrackTest.lower(c, newConnectionNATUnknown: natUnknown) else { throw fail("ctm options") }
                r.ext.append(.conntrack(t))
            case "xstate":
                // A state test as an ext row (after a stateful test): xstate NEW,ESTABLISHED
                var st: ConntrackStates = []
                let names: [String: ConntrackStates] = ["INVALID": .invalid, "NEW": .new, "RELATED": .related, "ESTABLISHED": .established, "UNTRACKED": .untracked]
                for n in v.split(separator: ",") {
                    guard let one = names[String(n)] else { throw fail("xstate") }
                    st.insert(one)
                }
                r.ext.append(.conntrack(ConntrackTest(states: Negatable(st, negated: neg))))
            case "xproto": // a second protocol test, as an ext row (kind 15)
                guard let p = proto(v) else { throw fail("xproto") }
                r.ext.append(.proto(p, negated: neg))
            case "tcpopt":
                guard let o = UInt8(v) else { throw fail("tcpopt") }
                r.ext.append(.tcpOption(o, negated: neg))
            case "srange", "drange":
                let ab = v.split(separator: "-")
                guard ab.count == 2, let lo = ipv4(ab[0]), let hi = ipv4(ab[1]) else { throw fail(String(key)) }
                r.ext.append(.ipRange(destination: key == "drange", lower: lo, upper: hi, negated: neg))
            case "ttl":
                guard i < w.count, let val = UInt8(w[i]), let op = TTLMatch.Operator(rawValue: String(v)) else { throw fail("ttl") }
                i += 1
                r.ttl = TTLMatch(op: op, value: val)
            default: throw fail("unknown test \(key)")
            }
        }
        return r
    }

    /// `src:LOCAL,UNICAST+!dst:BROADCAST+in`: the options, `!` negating one, `in` for
    /// --limit-iface-in.
    static func addrtype(_ v: Substring) -> AddrTypeTest? {
        var a = AddrTypeTest()
        for part in v.split(separator: "+") {
            if part == "in" { a.limitIfaceIn = true; continue }
            let neg = part.hasPrefix("!")
            let kv = part.dropFirst(neg ? 1 : 0).split(separator: ":")
            guard kv.count == 2 else { return nil }
            var mask: UInt16 = 0
            for name in kv[1].split(separator: ",") {
                guard let t = AddrTypeTest.rtnType(String(name)) else { return nil }
                mask |= 1 << UInt16(t)
            }
            switch kv[0] {
            case "src": a.sourceMask = mask; a.sourceNegated = neg
            case "dst": a.destinationMask = mask; a.destinationNegated = neg
            default: return nil
            }
        }
        return a
    }

    /// Text with %XX for one byte (fixture words hold no spaces).
    static func escaped(_ v: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var u = Array(v.utf8)[...]
        while let c = u.first {
            u = u.dropFirst()
            if c == UInt8(ascii: "%") {
                guard u.count >= 2, let b = UInt8(String(decoding: u.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(b)
                u = u.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func mac(_ v: Substring) -> [UInt8]? {
        let b = v.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        return b.count == 6 ? b : nil
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
            case "smac": guard let m = mac(v) else { throw fail("smac") }; p.sourceMAC = m
            case "dmac": guard let m = mac(v) else { throw fail("dmac") }; p.destinationMAC = m
            case "payload":
                // payload [N+]TEXT: N filler bytes ('.') then TEXT (%XX escapes)
                var t = v
                var pad = 0
                if let plus = t.firstIndex(of: "+"), let n = Int(t[..<plus]) { pad = n; t = t[t.index(after: plus)...] }
                guard let b = escaped(t) else { throw fail("payload") }
                p.payload = [UInt8](repeating: 0x2e, count: pad) + b
            case "tcpopt": // raw option bytes in hex, padded with EOL to a word
                guard v.count % 2 == 0 else { throw fail("tcpopt") }
                var b: [UInt8] = []
                var h = v[...]
                while !h.isEmpty {
                    guard let x = UInt8(h.prefix(2), radix: 16) else { throw fail("tcpopt") }
                    b.append(x)
                    h = h.dropFirst(2)
                }
                p.tcpOptions = b
            case "doff": guard let d = UInt8(v) else { throw fail("doff") }; p.dataOffset = d
            case "mf": p.moreFragments = true; i -= 1
            case "vlan": p.vlan = true; i -= 1
            default: throw fail("unknown packet option \(k)")
            }
        }
        var out = Array(w[(arrow + 1)...])
        var continued: [Int] = []
        if let plus = out.firstIndex(where: { $0.hasPrefix("+") }) {
            continued = out[plus].dropFirst().split(separator: ",").compactMap { Int($0) }
            out.remove(at: plus)
        }
        guard out.count == 2 || out.count == 3, out[0] == "PASS" || out[0] == "DROP" else {
            throw fail("expected => PASS|DROP POS|policy|none [STAT]")
        }
        let c = out[1]
        let position: Int? = c == "none" ? nil : c == "policy" ? -1 : Int(c)
        if c != "none" && position == nil { throw fail("position") }
        let pass = out[0] == "PASS"
        let stat: Stat
        if out.count == 3 {
            guard let s = Stat(rawValue: String(out[2])) else { throw fail("stat") }
            stat = s
        } else {
            stat = !pass ? .dropped : position == nil ? .untouched : .passed
        }
        return Probe(line: line, text: text, packet: p, expectPass: pass, position: position, stat: stat, continued: continued)
    }
}
