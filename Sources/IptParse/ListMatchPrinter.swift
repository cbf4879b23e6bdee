/// The names `iptables -L` shows instead of numbers when `-n` is absent.
public protocol ListNameResolver: Sendable {
    /// The service name of a port for a protocol name (`sip` for udp/5060), as getservbyport answers.
    func service(port: UInt16, proto: String) -> String?
    /// The host name of an address, or the address itself, as getnameinfo answers.
    func host(_ address: [UInt8]) -> String
}

/// Resolves nothing: what `-n` would show, for tests and for callers without a resolver.
public struct NumericResolver: ListNameResolver {
    public init() {}
    public func service(port: UInt16, proto: String) -> String? { nil }
    public func host(_ address: [UInt8]) -> String { IPAddressText.format(address, family: address.count == 4 ? .ipv4 : .ipv6) }
}

/// Each extension's `print` function of libxtables (the `-L` form, not the `-S` one),
/// learnt from iptables 1.8.9 in a namespace. Every string starts with its own space.
struct ListMatchPrinter {
    var rule: Rule
    var numeric: Bool
    var resolver: ListNameResolver

    var protoName: String { ProtocolNames.name(rule.proto?.value ?? 0) }

    func port(_ p: UInt16, proto: String) -> String {
        if !numeric, let s = resolver.service(port: p, proto: proto) { return s }
        return "\(p)"
    }

    /// `spt:22`, `dpts:!10:20`; nothing for a full range that is not negated.
    func ports(_ name: String, _ r: Negatable<ValueRange>?, proto: String) -> String {
        guard let r, !r.value.isFull || r.negated else { return "" }
        let inv = r.negated ? "!" : ""
        if r.value.lower == r.value.upper { return " \(name):\(inv)" + port(r.value.lower, proto: proto) }
        return " \(name)s:\(inv)" + port(r.value.lower, proto: proto) + ":" + port(r.value.upper, proto: proto)
    }

    func match(_ m: Match) throws(ListPrinter.Unsupported) -> String {
        switch m {
        case .tcp(let t):
            var s = " tcp" + ports("spt", t.sourcePort, proto: "tcp") + ports("dpt", t.destinationPort, proto: "tcp")
            if let o = t.option { s += " option=\(o.negated ? "!" : "")\(o.value)" }
            if let f = t.flags {
                s += " flags:" + (f.negated ? "!" : "")
                s += numeric ? hex2(f.value.mask) + "/" + hex2(f.value.compare)
                    : RulePrinter.flagNames(f.value.mask) + "/" + RulePrinter.flagNames(f.value.compare)
            }
            return s
        case .udp(let u):
            return " udp" + ports("spt", u.sourcePort, proto: "udp") + ports("dpt", u.destinationPort, proto: "udp")
        case .sctp(let u):
            return " sctp" + ports("spt", u.sourcePort, proto: "sctp") + ports("dpt", u.destinationPort, proto: "sctp")
                + (u.chunkTypes.map { ListFormsMZ1.sctpChunks($0, numeric: numeric) } ?? "")
        case .icmp(let i):
            return " icmp" + icmpType(i)
        case .multiport(let mp):
            var s = " multiport \(mp.direction.rawValue) " + (mp.negated ? " !" : "")
            s += mp.ports.map { r in
                r.lower == r.upper ? port(r.lower, proto: protoName) : port(r.lower, proto: protoName) + ":" + port(r.upper, proto: protoName)
            }.joined(separator: ",")
            return s
        case .conntrack(let c):
            // libxt_conntrack prints ctstate first, then ctproto; the other options are not rendered here.
            var s = c.states.map { ($0.negated ? " !" : "") + " ctstate " + $0.value.saveText } ?? ""
            for o in c.other {
                guard o.args.count == 1 else { throw .init("conntrack --\(o.name)") }
                if o.name == "ctproto" {
                    let n = ProtocolNames.parse(o.args[0].lowercased()).map(String.init) ?? o.args[0]
                    s += (o.negated ? " !" : "") + " ctproto \(n)"
                } else {
                    // libxt_conntrack prints every other option as its name and saved value.
                    s += (o.negated ? " !" : "") + " \(o.name) \(o.args[0])"
                }
            }
            return s
        case .state(let st):
            return (st.negated ? " !" : "") + " state " + st.value.saveText
        case .set(let st):
            var s = (st.negated ? " !" : "") + " match-set \(st.name) " + st.directions.map(\.rawValue).joined(separator: ",")
            for o in st.other {
                switch (o.name, o.negated) {
                case ("return-nomatch", false): s += " return-nomatch"
                case ("update-counters", true): s += " ! update-counters"
                case ("update-subcounters", true): s += " ! update-subcounters"
                // libxt_set prints the counter tests by name, `!` before an inverted -eq.
                case (let n, let neg) where n.hasPrefix("packets-") || n.hasPrefix("bytes-"):
                    s += (neg ? " ! " : " ") + n + o.args.map { " " + $0 }.joined()
                default: throw .init("set --\(o.name)")
                }
            }
            return s
        case .iprange(let r):
            func text(_ a: AddressRange) -> String {
                IPAddressText.format(a.lower, family: r.family) + "-" + IPAddressText.format(a.upper, family: r.family)
            }
            var s = ""
            if let x = r.source { s += " source IP range " + (x.negated ? "! " : "") + text(x.value) }
            if let x = r.destination { s += " destination IP range " + (x.negated ? "! " : "") + text(x.value) }
            return s
        case .addrtype(let a):
            var s = " ADDRTYPE match"
            if let x = a.sourceTypes { s += " src-type " + (x.negated ? "!" : "") + x.value.joined(separator: ",") }
            if let x = a.destinationTypes { s += " dst-type " + (x.negated ? "!" : "") + x.value.joined(separator: ",") }
            if a.limitIfaceIn { s += " limit-in" }
            if a.limitIfaceOut { s += " limit-out" }
            return s
        case .mac(let m):
            return " MAC" + (m.negated ? " !" : "") + " " + m.value.map { hex2lower($0) }.joined(separator: ":")
        case .limit(let l):
            return " limit: avg \(RulePrinter.rate(l.average)) burst \(l.burst)"
        case .comment(let c):
            return " /* \(c) */"
        case .length(let l):
            return " length " + (l.negated ? "!" : "") + l.value.saveText
        case .ttl(let t):
            let op = [TTLMatch.Operator.eq: "==", .ne: "!=", .lt: "<", .gt: ">"][t.op] ?? "=="
            return " TTL match TTL \(op) \(t.value)"
        case .pkttype(let p):
            return " PKTTYPE " + (p.negated ? "!" : "") + "= " + p.value.rawValue
        case .mark(let mk):
            let v = mk.mask == 0xffff_ffff ? "0x" + String(mk.value, radix: 16) : "0x" + String(mk.value, radix: 16) + "/0x" + String(mk.mask, radix: 16)
            return " mark match" + (mk.negated ? " !" : "") + " " + v
        case .opaque(let e):
            if let s = ExtensionForms.list(e, numeric: numeric) { return s }
            if let s = ListFormsMZ1.match(e, numeric: numeric) { return s }
            throw .init("match '\(m.name)'")
        case .string(let st):
            return ListFormsMZ1.string(st)
        case .icmp6, .hl:
            throw .init("match '\(m.name)'")
        }
    }

    /// libxt_icmp's print_icmptype: a name when one fits exactly (unless -n), else
    /// `type N` glued to the word before it, as iptables 1.8.9 prints it (`icmptype 8`).
    func icmpType(_ i: ICMPMatch) -> String {
        let type: UInt8 = i.any ? 255 : i.type
        // `255/255` is still "any" to the kernel, but libxt_icmp prints the codes it stores.
        let codes = i.codes
        if !numeric, let e = ICMPNames.v4.first(where: { $0.type == type && $0.codes == codes }) {
            return " " + (i.negated ? "!" : "") + e.name
        }
        var s = (i.negated ? " !" : "") + "type \(type)"
        if codes.lowerBound == codes.upperBound {
            s += " code \(codes.lowerBound)"
        } else if codes != 0...255 {
            s += " codes \(codes.lowerBound)-\(codes.upperBound)"
        }
        return s
    }

    func hex2(_ v: UInt8) -> String {
        let d = Array("0123456789ABCDEF")
        return "0x" + String(d[Int(v >> 4)]) + String(d[Int(v & 15)])
    }

    func hex2lower(_ v: UInt8) -> String {
        let d = Array("0123456789abcdef")
        return String(d[Int(v >> 4)]) + String(d[Int(v & 15)])
    }
}
