import IptParse

/// What the XDP program reads of a packet before judging it (`struct eipt_pkt` in
/// bpf/ebpf_iptables.bpf.c). Addresses and ports in host order.
public struct PacketFacts: Equatable, Sendable {
    public var source: UInt32
    public var destination: UInt32
    public var proto: UInt8
    /// nil when the program has no ports: not TCP/UDP/SCTP/UDP-Lite/DCCP, or fewer than
    /// 4 bytes of transport header.
    public var ports: Ports?
    /// nil when not TCP or fewer than 14 bytes of TCP header.
    public var tcpFlags: UInt8?
    /// nil when not ICMP or fewer than 8 bytes of ICMP header.
    public var icmp: ICMPHeader?
    public var ttl: UInt8
    /// The IP total length.
    public var totalLength: UInt16
    /// The program judges only first fragments (later ones take their first fragment's
    /// verdict), so it is false there; set it to ask how a fragment test would answer.
    public var nonFirstFragment: Bool
    /// A first fragment (MF set, offset 0): INPUT sees the reassembled datagram, so a length
    /// test cannot be answered (the rule may match).
    public var firstFragment: Bool = false
    /// The Ethernet source address; nil when unknown (a `-m mac` test then may match).
    public var sourceMAC: [UInt8]? = nil
    /// inet_addr_type() of the source and destination (RTN_*: 1 unicast, 2 local, 3
    /// broadcast, 5 multicast); nil when unknown (an addrtype test then may match).
    public var sourceAddressType: UInt8? = nil
    public var destinationAddressType: UInt8? = nil
    /// skb->pkt_type (0 host, 1 broadcast, 2 multicast); nil when unknown.
    public var packetType: UInt8? = nil
    /// The IP packet's bytes from its header (as long as its total length); nil when
    /// unknown (a `-m string` or `--tcp-option` test then may match).
    public var ipPacket: [UInt8]? = nil
    /// The realtime clock the program reads (CLOCK_TAI minus the TAI offset), in ns since
    /// the epoch; nil when unknown (a `-m time` test then may match).
    public var realtimeNanoseconds: Int64? = nil

    public struct Ports: Equatable, Sendable {
        public var source: UInt16
        public var destination: UInt16
        public init(source: UInt16, destination: UInt16) {
            self.source = source
            self.destination = destination
        }
    }

    public struct ICMPHeader: Equatable, Sendable {
        public var type: UInt8
        public var code: UInt8
        public init(type: UInt8, code: UInt8) {
            self.type = type
            self.code = code
        }
    }

    public init(source: UInt32, destination: UInt32, proto: UInt8, ports: Ports? = nil, tcpFlags: UInt8? = nil,
                icmp: ICMPHeader? = nil, ttl: UInt8 = 64, totalLength: UInt16 = 60, nonFirstFragment: Bool = false) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.ports = ports
        self.tcpFlags = tcpFlags
        self.icmp = icmp
        self.ttl = ttl
        self.totalLength = totalLength
        self.nonFirstFragment = nonFirstFragment
    }
}

extension CompiledTables {
    /// The program's judgement: the deciding position (nil: the policy) and its verdict.
    public struct Decision: Equatable, Sendable {
        public var position: UInt32?
        public var verdict: Verdict
        /// The CONTINUE positions matched on the way, in order: counted with `position` when
        /// XDP decides the packet (empty when the verdict is `kernel`: the kernel counts).
        public var continued: [UInt32] = []
        /// The pending draws (PendingDraws.swift) XDP makes, in order, before `verdict`
        /// stands; empty when none, and when the packet goes up undrawn (`.kernel`).
        public var draws: [PendingDraws.Draw] = []
        public init(position: UInt32?, verdict: Verdict, continued: [UInt32] = [], draws: [PendingDraws.Draw] = []) {
            self.position = position
            self.verdict = verdict
            self.continued = continued
            self.draws = draws
        }

        /// The decision once the draws are made: `random` gives one 32-bit value per draw. A
        /// draw that says yes decides at its position: the CONTINUE positions after it were
        /// never reached.
        public func drawn(_ random: () -> UInt32) -> Decision {
            for d in draws where d.says(random()) {
                return Decision(position: d.position, verdict: d.verdict, continued: continued.filter { $0 < d.position })
            }
            return Decision(position: position, verdict: verdict, continued: continued)
        }
    }

    /// CONTINUE positions one packet may match in the program (EIPT_MAX_CONT); past that
    /// it goes to the kernel.
    public static let maxContinued = 8

    /// What `eipt_judge` answers for a packet: the lowest position among the catch-all, the
    /// protocol/port table (exact port, then any port), the source LPM table, the
    /// source/protocol/port LPM table (exact port, then any port) and the first matching
    /// fallback rule below the best so far; the policy when none matched. The checks the
    /// program makes before judging (martian sources, destinations for this host, NAT,
    /// fragments) are not modelled here.
    ///
    /// `conntrack`: the state the kernel's conntrack lookup reports for the packet; nil
    /// for a packet conntrack has no entry for, which gets the program's own guess.
    public func decide(_ p: PacketFacts, conntrack: ConntrackStates? = nil) -> Decision {
        var best = catchAll ?? UInt32.max
        func take(_ v: UInt32?) { if let v, v < best { best = v } }
        if let ports = p.ports { take(protoPort[ProtoPort(proto: p.proto, port: ports.destination)]) }
        take(protoPort[ProtoPort(proto: p.proto, port: nil)])
        take(Self.longest(p.source) { source[$0] })
        if let ports = p.ports {
            let pp = ProtoPort(proto: p.proto, port: ports.destination)
            take(Self.longest(p.source) { sourceProtoPort[SourceProtoPort(source: $0, protoPort: pp)] })
        }
        let any = ProtoPort(proto: p.proto, port: nil)
        take(Self.longest(p.source) { sourceProtoPort[SourceProtoPort(source: $0, protoPort: any)] })

        // The Loader writes the fallback list sorted by position (stable); the program
        // stops at the first entry at or beyond the best position.
        let sorted = fallback.enumerated().sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
        let state = conntrack ?? Self.stateWithoutEntry(p)
        var uncertain = false
        var continued: [UInt32] = []
        var pending = PendingDraws.Mirror()
        for (_, rule) in sorted {
            if rule.position >= best { break }
            // `eipt_fb_continues`: another alternative of the position just recorded.
            if continued.last == rule.position { continue }
            if rule.matches(p, conntrack: state) {
                // Extension tests, in order: the first that does not hold rejects the
                // entry; one the facts cannot answer makes it a kernel decision.
                var extUnknown = false
                var extFails = false
                for e in rule.ext {
                    if e.isPendingDraw { continue } // the last test: recorded below
                    guard let h = e.holds(for: p) else { extUnknown = true; break }
                    if !h { extFails = true; break }
                }
                if extFails { continue }
                if !extUnknown, let draw = rule.ext.last, draw.isPendingDraw {
                    if pending.record(draw, at: rule.position, verdict: verdicts.indices.contains(Int(rule.position)) ? verdicts[Int(rule.position)] : .kernel) {
                        continue // as if the rule did not match
                    }
                    extUnknown = true
                }
                // A state test the program cannot answer: the rule may match, so its
                // position holds and the kernel decides.
                let maybe = (rule.conntrack != nil && state == nil) || extUnknown
                    || (rule.length != nil && p.firstFragment)
                let v = Int(rule.position) < verdicts.count ? verdicts[Int(rule.position)] : .kernel
                if v.continues && !maybe && continued.count < Self.maxContinued
                    // CONNMARK: only a packet without a conntrack entry (and a lookup that can tell).
                    && (v == .continue || (conntrack == nil && state != nil)) {
                    continued.append(rule.position)
                    continue
                }
                best = rule.position
                uncertain = maybe || v.continues
                break
            }
        }
        let found: Decision
        if best == UInt32.max || best >= Compiler.maxRules || Int(best) >= verdicts.count {
            found = Decision(position: nil, verdict: policy, continued: policy == .kernel ? [] : continued)
        } else {
            let verdict = uncertain || verdicts[Int(best)].continues ? .kernel : verdicts[Int(best)]
            found = Decision(position: best, verdict: verdict, continued: verdict == .kernel ? [] : continued)
        }
        return pending.resolve(found, xdpOnly: xdpOnly)
    }

    /// The value an LPM lookup returns: the longest stored prefix containing `address`.
    static func longest(_ address: UInt32, _ lookup: (Prefix) -> UInt32?) -> UInt32? {
        var length = 32
        while length >= 0 {
            if let v = lookup(Prefix(address: address, length: UInt8(length))) { return v }
            length -= 1
        }
        return nil
    }

    /// `eipt_ct_state` for a packet without a conntrack entry; nil where the program cannot
    /// tell (EIPT_CT_UNCERTAIN): ICMP queries and replies, other protocols.
    static func stateWithoutEntry(_ p: PacketFacts) -> ConntrackStates? {
        switch p.proto {
        case 6, 17:
            guard p.ports != nil else { return p.proto == 6 && !p.nonFirstFragment ? .invalid : .new }
            if p.proto == 6, let flags = p.tcpFlags {
                // PSH, ECE and CWR never change whether a segment can open a connection.
                let f = flags & ~(0x08 | 0x40 | 0x80)
                return [0x02, 0x22, 0x10, 0x30].contains(f) ? .new : .invalid
            }
            return .new
        case 1:
            guard let icmp = p.icmp else { return .invalid }
            // Errors quote a connection there is no entry for (INVALID; one quoting neither
            // TCP nor UDP is not modelled here). Queries and replies: uncertain.
            return [0, 8, 13, 14, 15, 16, 17, 18].contains(icmp.type) ? nil : .invalid
        default:
            return nil
        }
    }
}

extension CompiledTables.FallbackRule {
    /// `eipt_fallback_step`: every present test holds (a negated one must not), and a port,
    /// TCP-flag or ICMP test is false, negated or not, when the packet lacks that header.
    /// `conntrack` nil: the state is uncertain, and the state test is taken to hold (the
    /// caller turns such a match into a kernel decision).
    func matches(_ p: PacketFacts, conntrack: ConntrackStates?) -> Bool {
        func test(_ present: Bool, available: Bool = true, negated: Bool, _ holds: @autoclosure () -> Bool) -> Bool {
            !present || (available && holds() != negated)
        }
        let host = CompiledTables.Prefix(address: p.source, length: 32)
        let dest = CompiledTables.Prefix(address: p.destination, length: 32)
        let hasPorts = p.ports != nil
        let sport = p.ports?.source ?? 0, dport = p.ports?.destination ?? 0
        guard test(source != nil, negated: source?.negated ?? false, source?.value.contains(host) ?? false),
              test(destination != nil, negated: destination?.negated ?? false, destination?.value.contains(dest) ?? false),
              test(proto != nil, negated: proto?.negated ?? false, proto?.value == p.proto),
              test(sourcePorts != nil, available: hasPorts, negated: sourcePorts?.negated ?? false,
                   sourcePorts?.value.contains(sport) ?? false),
              test(destinationPorts != nil, available: hasPorts, negated: destinationPorts?.negated ?? false,
                   destinationPorts?.value.contains(dport) ?? false),
              test(eitherPort != nil, available: hasPorts, negated: eitherPort?.negated ?? false,
                   eitherPort.map { $0.value.contains(sport) || $0.value.contains(dport) } ?? false),
              test(tcpFlags != nil, available: p.tcpFlags != nil, negated: tcpFlags?.negated ?? false,
                   tcpFlags.map { (p.tcpFlags ?? 0) & $0.value.mask == $0.value.compare } ?? false),
              test(icmp != nil, available: p.icmp != nil, negated: icmp?.negated ?? false,
                   icmp.map { $0.value.type == 255 || ($0.value.type == p.icmp?.type && $0.value.codes.contains(p.icmp?.code ?? 0)) } ?? false),
              test(fragment != nil, negated: fragment == false, p.nonFirstFragment),
              test(length != nil && !p.firstFragment, negated: length?.negated ?? false, length?.value.contains(p.totalLength) ?? false),
              ttl?.holds(p.ttl) ?? true,
              conntrack == nil || test(self.conntrack != nil, negated: self.conntrack?.negated ?? false,
                                       !(self.conntrack?.value.intersection(conntrack ?? []).isEmpty ?? true))
        else { return false }
        return true
    }
}
