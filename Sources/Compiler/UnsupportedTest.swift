import IptParse

/// A test of a rule that the XDP program cannot decide exactly. The rule then holds a
/// `KERNEL` position over the tests that do lower (an over-approximation of its packets),
/// and this says, per test, what was left out and why.
public enum UnsupportedTest: Error, Equatable, Sendable {
    /// A match XDP does not evaluate (`limit`, `string`, `mark`, `addrtype`, `recent`, ...).
    case match(String)
    /// `-o`: an arriving packet has no output interface yet.
    case outInterface
    case tcpOption
    case sctpChunkTypes
    /// `-m icmp6` in an IPv4 ruleset.
    case icmp6
    /// conntrack options ConntrackTest does not read exactly (an abbreviated --ctstatus,
    /// `! --ctdir`, an option it does not know).
    case conntrackOptions([String])
    /// `--ctstate SNAT`/`DNAT`: virtual states the data plane cannot see.
    case conntrackNATStates
    case iprange
    /// `-m addrtype --limit-iface-out`: no output device for an arriving packet (and
    /// xt_addrtype refuses it in INPUT).
    case addrtypeLimitOut
    /// `-m string` with a pattern longer than one extension row holds.
    case stringTooLong(algorithm: String, bytes: Int)
    /// `-s`/`-d` with a mask that is not a prefix (`10.0.0.0/255.0.255.0`).
    case nonPrefixMask(String)
    /// `--match-set` with counter options (`--packets-gt`, `! --update-counters`, ...).
    case setCounterOptions(set: String)
    /// `--match-set` on anything but the source address alone.
    case setDirections(set: String, [String])
    /// A set no `ipset save` text defines.
    case unknownSet(String)
    /// A set that is not a one-dimensional IPv4 address set (hash:ip, hash:net).
    case setNotIPv4Source(String)
    /// A set whose members change inside the kernel: XDP's copy would go stale.
    case dynamicSet(String, DynamicSet)
    /// The tests lower, but the XDP tables cannot hold them in one position.
    case layout(LayoutProblem)
    /// A stateful match (limit, statistic, ...) with options XDP does not mirror.
    case statefulOptions(String, String)
    /// A stateful match before tests XDP evaluates first: iptables would charge it for
    /// packets the later test refuses.
    case statefulBeforeTests(String, later: String)
    /// More stateful match instances than one generation holds.
    case statefulInstances(limit: Int)
    /// `-m recent` on a list XDP does not keep (RecentLists says why).
    case recentList(String, why: String)
    /// `-m time` that XDP does not evaluate (--kerneltz, or options it does not read).
    case timeMatch(String)

    public enum DynamicSet: Equatable, Sendable {
        /// Created with `timeout`: members expire in the kernel.
        case timeout
        /// A `-j SET --add-set/--del-set` rule writes to it (the first one found).
        case writtenBy(RuleRef)
    }

    public enum LayoutProblem: Equatable, Sendable {
        /// `! --dports 1,2`: a negated list is not one range.
        case negatedPortList
        /// A disjunction that expands to more fallback entries than one rule may take.
        case tooManyEntries(limit: Int)
        /// Two tests of one kind left after merging (two sets, two `-d` with holes, ...).
        case repeatedTest(String)
        /// A set match together with tests other than protocol and destination port.
        case setWithOtherTests
        /// `--dport` and `--ports` in one rule: the fallback entry holds one port range.
        case portsAndEitherPorts
        /// More extension tests than one fallback entry evaluates.
        case tooManyExtTests(limit: Int)
    }

    /// Short stable id, for JSON.
    public var id: String {
        switch self {
        case .match: "match"
        case .outInterface: "out-interface"
        case .tcpOption: "tcp-option"
        case .sctpChunkTypes: "sctp-chunk-types"
        case .icmp6: "icmp6"
        case .conntrackOptions: "conntrack-options"
        case .conntrackNATStates: "conntrack-nat-states"
        case .iprange: "iprange"
        case .addrtypeLimitOut: "addrtype-limit-iface-out"
        case .stringTooLong: "string-too-long"
        case .nonPrefixMask: "non-prefix-mask"
        case .setCounterOptions: "set-counter-options"
        case .setDirections: "set-directions"
        case .unknownSet: "unknown-set"
        case .setNotIPv4Source: "set-not-ipv4-source"
        case .dynamicSet: "dynamic-set"
        case .layout: "layout"
        case .statefulOptions: "stateful-options"
        case .statefulBeforeTests: "stateful-before-tests"
        case .statefulInstances: "stateful-instances"
        case .recentList: "recent-list"
        case .timeMatch: "time"
        }
    }

    public var description: String {
        switch self {
        case .match(let name): "match '\(name)' is not evaluated in XDP" + Self.why(name)
        case .outInterface: "-o has no meaning for packets that arrive"
        case .tcpOption: "--tcp-option needs the TCP options parsed, which the XDP program does not do"
        case .sctpChunkTypes: "sctp --chunk-types is not evaluated in XDP"
        case .icmp6: "ICMPv6 in an IPv4 ruleset"
        case .conntrackOptions(let names):
            "conntrack options in a form XDP does not read exactly (\(names.map { "--" + $0 }.joined(separator: " "))) are not evaluated in XDP"
        case .conntrackNATStates: "--ctstate SNAT/DNAT are not visible to XDP"
        case .addrtypeLimitOut: "addrtype --limit-iface-out names the output device, which an arriving packet does not have (xt_addrtype refuses it in INPUT)"
        case .iprange: "iprange over IPv6 addresses in an IPv4 ruleset"
        case .stringTooLong(let a, let n):
            "a \(n)-byte string (--algo \(a)) is longer than XDP holds (\(a == "bm" ? StringSearch.maxBoyerMoore : StringSearch.maxKMP) bytes)"
        case .nonPrefixMask(let text): "a mask with holes (\(text)) is not a prefix"
        case .setCounterOptions(let set): "set \(set): counter options are not evaluated in XDP"
        case .setDirections(let set, let dirs): "set \(set): only '--match-set NAME src' is compiled; '\(dirs.joined(separator: ","))' is not"
        case .unknownSet(let set): "set \(set) is not defined (pass its 'ipset save' text)"
        case .setNotIPv4Source(let set): "set \(set) is not a one-dimensional IPv4 set (hash:ip, hash:net)"
        case .dynamicSet(let set, .timeout): "set \(set) has timeouts: its members expire in the kernel"
        case .dynamicSet(let set, .writtenBy(let r)):
            "set \(set) is written by \(r.table)/\(r.chain) rule \(r.index)\(r.line.map { " (line \($0))" } ?? "") (-j SET): its members change in the kernel"
        case .layout(.negatedPortList): "a negated port list is not one range"
        case .layout(.tooManyEntries(let n)): "the rule expands to more than \(n) fallback entries"
        case .layout(.repeatedTest(let kind)): "two \(kind) tests in one rule cannot share one fallback entry"
        case .layout(.setWithOtherTests): "a set match together with tests other than protocol and destination port"
        case .layout(.portsAndEitherPorts): "--dport and --ports in one rule cannot share one fallback entry"
        case .layout(.tooManyExtTests(let n)): "the rule has more than \(n) extension tests for one fallback entry"
        case .statefulOptions(let name, let what): "\(name): \(what) is not evaluated in XDP"
        case .statefulBeforeTests(let name, let later):
            "\(name) comes before '\(later)': iptables charges it for packets that test refuses, XDP tests '\(later)' first"
        case .statefulInstances(let n): "more than \(n) stateful match instances in one ruleset"
        case .recentList(let name, let why): "recent list \(name) stays in the kernel: \(why)"
        case .timeMatch(let why): "time: \(why)"
        }
    }

    static func why(_ name: String) -> String {
        switch name {
        case "limit", "hashlimit", "recent": ": it keeps state over time that iptables and XDP would not share"
        case "string": ": payload search is not done in XDP"
        case "mark", "connmark": ": packet marks do not exist yet at XDP time"
        default: ""
        }
    }
}
