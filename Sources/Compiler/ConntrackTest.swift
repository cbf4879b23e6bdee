import IptParse

/// `-m conntrack` as the XDP program tests it (bpf/ext_conntrack.h): xt_conntrack's
/// conntrack_mt (revision 3) over the packet's conntrack entry, every option a conjunct.
/// Also a `-m state`/`--ctstate` test placed after a stateful test of its rule (then only
/// `states` is present), so that it is evaluated after the stateful one, as iptables does.
public struct ConntrackTest: Equatable, Hashable, Sendable {
    /// xt_conntrack's XT_CONNTRACK_* bits (EIPT_CTM_* in bpf/ebpf_iptables.h).
    public struct Options: OptionSet, Equatable, Hashable, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let state = Options(rawValue: 1 << 0)
        public static let proto = Options(rawValue: 1 << 1)
        public static let origSource = Options(rawValue: 1 << 2)
        public static let origDestination = Options(rawValue: 1 << 3)
        public static let replySource = Options(rawValue: 1 << 4)
        public static let replyDestination = Options(rawValue: 1 << 5)
        public static let status = Options(rawValue: 1 << 6)
        public static let expires = Options(rawValue: 1 << 7)
        public static let origSourcePort = Options(rawValue: 1 << 8)
        public static let origDestinationPort = Options(rawValue: 1 << 9)
        public static let replySourcePort = Options(rawValue: 1 << 10)
        public static let replyDestinationPort = Options(rawValue: 1 << 11)
        /// With `invert`: --ctdir REPLY (libxt_conntrack stores it so).
        public static let direction = Options(rawValue: 1 << 12)
        /// The tuple fields in the program's order: orig src, orig dst, reply src, reply dst.
        static let addresses: [Options] = [.origSource, .origDestination, .replySource, .replyDestination]
        static let ports: [Options] = [.origSourcePort, .origDestinationPort, .replySourcePort, .replyDestinationPort]
    }

    /// IPS_* bits --ctstatus names (NONE is 0: `--ctstatus NONE` never matches an entry).
    public static let statusNames: [(String, UInt8)] = [("NONE", 0), ("EXPECTED", 1), ("SEEN_REPLY", 2), ("ASSURED", 4), ("CONFIRMED", 8)]
    static let expected: UInt8 = 1, seenReply: UInt8 = 2, assured: UInt8 = 4, confirmed: UInt8 = 8

    public var match: Options = []
    public var invert: Options = []
    /// ConntrackStates bits (SNAT 1 << 5, DNAT 1 << 6 included): eipt_ct_state's bits.
    public var states: UInt8 = 0
    public var proto: UInt8 = 0
    public var status: UInt8 = 0
    /// Address and mask (host order) per tuple field, in `Options.addresses` order.
    public var addresses: [Masked] = Array(repeating: Masked(address: 0, mask: 0), count: 4)
    /// Inclusive port ranges (host order) per tuple field, in `Options.ports` order.
    public var ports: [ClosedRange<UInt16>] = Array(repeating: 0...0, count: 4)
    /// nat PREROUTING may DNAT a connection's first packet: for a packet without an entry the
    /// reply tuple and the DNAT bit are not known (EIPT_CTM_F_NEW_NAT_UNKNOWN).
    public var newConnectionNATUnknown = false

    public struct Masked: Equatable, Hashable, Sendable {
        public var address: UInt32
        public var mask: UInt32
        public init(address: UInt32, mask: UInt32) {
            self.address = address
            self.mask = mask
        }
    }

    public init() {}

    /// A state test alone (`-m state --state`, `--ctstate` without other options).
    public init(states: Negatable<ConntrackStates>) {
        match = .state
        if states.negated { invert = .state }
        self.states = UInt8(truncatingIfNeeded: states.value.rawValue)
    }

    /// Whether the test is a state test alone without SNAT/DNAT: for other than TCP/UDP with
    /// ports the program answers it as the fixed state test does (eipt_ct_state).
    public var isStateOnly: Bool { match == .state && states & 0x60 == 0 }

    /// libxt_conntrack's options as iptables-save prints them (ConntrackMatch.other); a
    /// value this does not read exactly (an abbreviated status, `! --ctdir`) is refused.
    public static func lower(_ c: ConntrackMatch, newConnectionNATUnknown: Bool) throws(UnsupportedTest) -> ConntrackTest {
        var t = ConntrackTest()
        if let s = c.states { t = ConntrackTest(states: s) }
        t.newConnectionNATUnknown = newConnectionNATUnknown
        for o in c.other {
            func refuse() -> UnsupportedTest { .conntrackOptions([o.name]) }
            guard let arg = o.args.first, o.args.count == 1 else { throw refuse() }
            let opt: Options
            switch o.name {
            case "ctproto":
                guard let p = UInt8(arg) else { throw refuse() }
                t.proto = p
                opt = .proto
            case "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst":
                guard let m = Self.masked(arg) else { throw refuse() }
                let i = ["ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"].firstIndex(of: o.name) ?? 0
                t.addresses[i] = m
                opt = Options.addresses[i]
            case "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport":
                guard let r = ClosedRange<UInt16>(colonSeparated: arg) else { throw refuse() }
                let i = ["ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport"].firstIndex(of: o.name) ?? 0
                t.ports[i] = r
                opt = Options.ports[i]
            case "ctstatus":
                var mask: UInt8 = 0
                for name in arg.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let s = statusNames.first(where: { $0.0 == name.uppercased() }) else { throw refuse() }
                    mask |= s.1
                }
                t.status = mask
                opt = .status
            case "ctexpire":
                // The bounds are not needed: the program answers MAYBE when it gets there.
                let parts = arg.split(separator: ":", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count), parts.allSatisfy({ UInt32($0) != nil }) else { throw refuse() }
                opt = .expires
            case "ctdir":
                guard !o.negated else { throw refuse() }
                switch arg.uppercased() {
                case "ORIGINAL": break
                case "REPLY": t.invert.insert(.direction)
                default: throw refuse()
                }
                t.match.insert(.direction)
                continue
            default:
                throw refuse()
            }
            t.match.insert(opt)
            if o.negated { t.invert.insert(opt) }
        }
        return t
    }

    /// `a.b.c.d`, `a.b.c.d/N` or `a.b.c.d/m.m.m.m`, host order.
    static func masked(_ text: String) -> Masked? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let a = dotted(parts[0]) else { return nil }
        var mask: UInt32 = .max
        if parts.count == 2 {
            if let n = Int(parts[1]), (0...32).contains(n) {
                mask = n == 0 ? 0 : UInt32.max << UInt32(32 - n)
            } else if let m = dotted(parts[1]) {
                mask = m
            } else {
                return nil
            }
        }
        return Masked(address: a & mask, mask: mask)
    }

    static func dotted(_ s: Substring) -> UInt32? {
        let b = s.split(separator: ".", omittingEmptySubsequences: false)
        guard b.count == 4 else { return nil }
        var v: UInt32 = 0
        for x in b {
            guard let n = UInt8(x) else { return nil }
            v = v << 8 | UInt32(n)
        }
        return v
    }
}

/// What the program knows of a packet's conntrack entry before the kernel sees the packet
/// (struct eipt_ct_snap): nil for no entry. Addresses and ports host order.
public struct ConntrackEntryView: Equatable, Sendable {
    /// ct->status (IPS_* bits; SRC_NAT 16, DST_NAT 32).
    public var status: UInt32
    /// The packet's tuple is the entry's reply direction.
    public var reply: Bool
    public var proto: UInt8
    /// Original source, original destination, reply source, reply destination.
    public var addresses: [UInt32]
    public var ports: [UInt16]
    public init(status: UInt32, reply: Bool, proto: UInt8, addresses: [UInt32], ports: [UInt16]) {
        self.status = status
        self.reply = reply
        self.proto = proto
        self.addresses = addresses
        self.ports = ports
    }
}

extension ConntrackTest {
    /// The Swift mirror of eipt_ext_conntrack for a TCP/UDP packet with ports, given the
    /// entry the program's lookup finds: true/false, or nil where the program answers MAYBE.
    /// `stateWithoutEntry`: eipt_ct_state's answer (for the state-only shortcut and packets
    /// that are not TCP/UDP with ports), nil when uncertain.
    public func holds(entry: ConntrackEntryView?, packet p: PacketFacts, stateWithoutEntry: ConntrackStates?) -> Bool? {
        let inv = invert
        func noEntry() -> Bool {
            guard match.contains(.state) else { return false }
            return (states & UInt8(ConntrackStates.invalid.rawValue) != 0) != inv.contains(.state)
        }
        guard p.proto == 6 || p.proto == 17, let pp = p.ports else {
            if isStateOnly, let s = stateWithoutEntry { return (UInt16(states) & s.rawValue != 0) != inv.contains(.state) }
            return stateWithoutEntry == .invalid ? noEntry() : nil
        }
        var no = false, maybe = false
        var statebit: UInt16, status: UInt8, unsure: UInt8, reply: Bool, newConn = false
        var addr: [UInt32], port: [UInt16], proto: UInt8
        if let e = entry {
            // A SYN on a connection that saw a reply may reopen a closing one as a new entry,
            // or be INVALID (tcp_packet).
            if p.proto == 6 {
                guard let f = p.tcpFlags else { return nil }
                if f & 0x12 == 0x02 && (e.reply || e.status & UInt32(Self.seenReply) != 0) { return nil }
            }
            reply = e.reply
            var st = e.status
            statebit = Self.state(of: e).rawValue
            if reply { st |= UInt32(Self.seenReply) }
            if st & 16 != 0 { statebit |= ConntrackStates.snat.rawValue }
            if st & 32 != 0 { statebit |= ConntrackStates.dnat.rawValue }
            status = UInt8(truncatingIfNeeded: st) & 0x0f
            unsure = Self.assured
            addr = e.addresses
            port = e.ports
            proto = e.proto
        } else {
            if p.proto == 6 {
                guard p.tcpFlags != nil else { return nil }
                if stateWithoutEntry == .invalid { return noEntry() }
            }
            newConn = true
            reply = false
            status = 0
            unsure = Self.confirmed
            statebit = ConntrackStates.new.rawValue
            addr = [p.source, p.destination, p.destination, p.source]
            port = [pp.source, pp.destination, pp.destination, pp.source]
            proto = p.proto
        }
        let natUnknown = newConn && newConnectionNATUnknown
        if match.contains(.state) {
            let with = UInt16(states) & statebit != 0
            if natUnknown && states & UInt8(ConntrackStates.dnat.rawValue) != 0 && !with {
                maybe = true
            } else if with == inv.contains(.state) {
                no = true
            }
        }
        if match.contains(.direction) && reply != inv.contains(.direction) { no = true }
        for i in 0..<4 {
            let a = Options.addresses[i], pt = Options.ports[i]
            guard match.contains(a) || match.contains(pt) else { continue }
            if i >= 2 && natUnknown { maybe = true; continue }
            let eq = (addr[i] ^ addresses[i].address) & addresses[i].mask == 0
            let inside = self.ports[i].contains(port[i])
            if match.contains(a) && eq == inv.contains(a) { no = true }
            if match.contains(pt) && inside == inv.contains(pt) { no = true }
        }
        if match.contains(.proto) && (proto == self.proto) == inv.contains(.proto) { no = true }
        if match.contains(.status) {
            let lo = self.status & status != 0, hi = self.status & (status | unsure) != 0
            if lo != hi { maybe = true } else if lo == inv.contains(.status) { no = true }
        }
        if match.contains(.expires) { maybe = true }
        if no { return false }
        return maybe ? nil : true
    }

    /// eipt_ct_tuple_state for a found entry: reply direction or SEEN_REPLY: ESTABLISHED;
    /// EXPECTED: RELATED; else NEW.
    static func state(of e: ConntrackEntryView) -> ConntrackStates {
        if e.reply || e.status & UInt32(seenReply) != 0 { return .established }
        return e.status & UInt32(expected) != 0 ? .related : .new
    }
}

extension ConntrackTest {
    /// conntrack_mt for an untracked packet (no entry, ctinfo IP_CT_UNTRACKED): the state
    /// test alone decides, false without one (NotrackFold).
    var holdsUntracked: Bool {
        match.contains(.state) && (UInt16(states) & ConntrackStates.untracked.rawValue != 0) != invert.contains(.state)
    }
}

/// What the ruleset's other tables tell the conntrack tests.
enum ConntrackContext {
    /// Whether nat PREROUTING (or a chain it may reach) holds a target that rewrites the
    /// destination of a connection's first packet: DNAT, REDIRECT, NETMAP, or any target this
    /// does not know. Conservative: every nat chain but the built-in INPUT, OUTPUT and
    /// POSTROUTING counts (they run after filter INPUT or not for arriving packets).
    static func natMayRewriteDestination(_ ruleset: Ruleset) -> Bool {
        guard let nat = ruleset.table("nat") else { return false }
        for chain in nat.chains where !["INPUT", "OUTPUT", "POSTROUTING"].contains(chain.name) {
            for rule in chain.rules {
                switch rule.target {
                case nil, .accept?, .drop?, .return?, .jump?, .goto?, .log?: continue
                case .opaque(let e)? where ["SNAT", "MASQUERADE", "LOG", "NFLOG"].contains(e.name): continue
                default: return true
                }
            }
        }
        return false
    }
}
