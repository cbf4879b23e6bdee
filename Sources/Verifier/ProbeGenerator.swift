import Compiler

/// Probes from the compiled tables themselves: for every keyed entry and fallback rule,
/// a packet that matches it and packets just outside each of its address, prefix, port
/// and protocol bounds; then random packets. Deterministic for a seed.
public struct ProbeGenerator {
    public var destination: UInt32
    public var seed: UInt64

    public init(destination: UInt32, seed: UInt64 = 1) {
        self.destination = destination
        self.seed = seed
    }

    public func probes(for t: CompiledTables, limit: Int, random: Int) -> [Probe] {
        var out: [Probe] = []
        func add(_ p: Probe) { if !out.contains(where: { $0.sameHeaders(p) }) { out.append(p) } }
        func base(_ proto: UInt8, _ why: String) -> Probe {
            var p = Probe(source: 0xC633_6401, destination: destination, proto: proto)
            p.purpose = why
            return p
        }
        func prefixProbes(_ pre: CompiledTables.Prefix, _ make: (UInt32, String) -> Void) {
            make(pre.address, "first address of \(Probe.dotted(pre.address))/\(pre.length)")
            if pre.length > 0 {
                let size: UInt64 = 1 << (32 - UInt64(pre.length))
                let last = UInt32(truncatingIfNeeded: UInt64(pre.address) + size - 1)
                make(last, "last address of \(Probe.dotted(pre.address))/\(pre.length)")
                make(pre.address &- 1, "just below \(Probe.dotted(pre.address))/\(pre.length)")
                make(last &+ 1, "just above \(Probe.dotted(pre.address))/\(pre.length)")
            }
        }
        for (pp, _) in t.protoPort.sorted(by: { ($0.key.proto, $0.key.port ?? 0) < ($1.key.proto, $1.key.port ?? 0) }) {
            var p = base(pp.proto, "protocol \(pp.proto) port \(pp.port.map(String.init) ?? "any")")
            if let port = pp.port {
                p.destinationPort = port; add(p)
                p.destinationPort = port &- 1; p.purpose += " minus 1"; add(p)
                p.destinationPort = port &+ 1; p.purpose = "protocol \(pp.proto) port \(port) plus 1"; add(p)
            } else { add(p) }
            var other = p
            other.proto = pp.proto == 6 ? 17 : 6
            other.purpose = "other protocol than \(pp.proto)"
            add(other)
        }
        for (pre, _) in t.source.sorted(by: { $0.key < $1.key }).prefix(limit) {
            prefixProbes(pre) { a, why in var p = base(17, why); p.source = a; p.destinationPort = 5060; add(p) }
        }
        for (k, _) in t.sourceProtoPort.sorted(by: { ($0.key.source, $0.key.protoPort.port ?? 0) < ($1.key.source, $1.key.protoPort.port ?? 0) }).prefix(limit) {
            prefixProbes(k.source) { a, why in
                var p = base(k.protoPort.proto, why)
                p.source = a
                p.destinationPort = k.protoPort.port ?? 7
                add(p)
                if let port = k.protoPort.port {
                    p.destinationPort = port &+ 1
                    p.purpose = why + ", port plus 1"
                    add(p)
                }
            }
        }
        for f in t.fallback {
            var p = base(f.proto?.value ?? 17, "fallback rule at position \(f.position)")
            if let s = f.source { p.source = s.value.address }
            if let r = f.destinationPorts { p.destinationPort = r.value.lowerBound }
            if let r = f.sourcePorts { p.sourcePort = r.value.lowerBound }
            if let r = f.eitherPort { p.destinationPort = r.value.lowerBound }
            if let i = f.icmp, !i.negated { p.proto = 1; p.icmpType = i.value.type == 255 ? 8 : i.value.type; p.icmpCode = i.value.codes.lowerBound }
            if let fl = f.tcpFlags { p.tcpFlags = fl.negated ? (fl.value.compare ^ fl.value.mask) : fl.value.compare }
            if let t = f.ttl { p.ttl = t.op == .lt ? t.value &- 1 : t.op == .gt ? t.value &+ 1 : t.value }
            add(p)
            var q = p
            if let r = f.destinationPorts { q.destinationPort = r.value.upperBound &+ 1; q.purpose += ", port above range"; add(q) }
            q = p
            if let r = f.destinationPorts { q.destinationPort = r.value.lowerBound &- 1; q.purpose = "fallback \(f.position), port below range"; add(q) }
            q = p
            if let s = f.source { q.source = s.value.address &- 1; q.purpose = "fallback \(f.position), source just outside"; add(q) }
            q = p
            if f.tcpFlags != nil { q.tcpFlags = 0x10; q.purpose = "fallback \(f.position), ACK only"; add(q) }
            // Conntrack calls a TCP segment without a connection NEW or INVALID by its flags.
            if f.conntrack != nil, p.proto == 6 {
                for fl in Self.tcpFlagSamples where fl != p.tcpFlags {
                    q = p; q.tcpFlags = fl; q.purpose = "fallback \(f.position), flags 0x\(String(fl, radix: 16))"; add(q)
                }
            }
        }
        if out.count > limit { out = Array(out.prefix(limit)) }
        var rng = seed
        func next() -> UInt64 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return rng >> 11
        }
        let protos: [UInt8] = [6, 17, 1, 6, 17, 47]
        for i in 0..<random {
            var p = base(protos[Int(next() % UInt64(protos.count))], "random \(i)")
            p.source = UInt32(truncatingIfNeeded: next()) | 0x0100_0000
            if p.source >> 24 == 127 || p.source >> 28 >= 14 { p.source = 0xCB00_7100 | UInt32(i & 0xff) }
            p.destinationPort = [22, 53, 80, 443, 5060, 5061, 10000, 20000, UInt16(truncatingIfNeeded: next())][Int(next() % 9)]
            p.sourcePort = UInt16(truncatingIfNeeded: next()) | 1024
            p.icmpType = [0, 3, 8, 11, 13][Int(next() % 5)]
            if p.proto == 6, i % 2 == 1 { p.tcpFlags = Self.tcpFlagSamples[Int(next() % UInt64(Self.tcpFlagSamples.count))] }
            add(p)
        }
        return out
    }

    /// Flag combinations that open a connection (SYN, ACK), that conntrack refuses without
    /// one (SYN-ACK, RST, FIN, none, SYN+FIN), and ones whose PSH/URG/ECE it ignores or not.
    static let tcpFlagSamples: [UInt8] = [0x02, 0x10, 0x12, 0x04, 0x14, 0x11, 0x01, 0x00, 0x03, 0x18, 0x22, 0x42, 0x29]
}

extension Probe {
    func sameHeaders(_ o: Probe) -> Bool {
        source == o.source && destination == o.destination && proto == o.proto && sourcePort == o.sourcePort
            && destinationPort == o.destinationPort && tcpFlags == o.tcpFlags && icmpType == o.icmpType
            && icmpCode == o.icmpCode && ttl == o.ttl
    }
}
