/// Which paths of the XDP program a compiled ruleset needs: the program is loaded with this
/// shape as a constant (bpf/ebpf_iptables.h, `eipt_shape`), and the verifier removes every
/// path the ruleset does not use — the fallback walk, the conntrack test, lookups in tables
/// that hold nothing, the NAT check, REJECT replies, xdp-only counting. A SIP-edge whitelist
/// (one set on one port, then DROP) needs one table and nothing else.
///
/// A program whose shape holds a generation's shape judges it exactly as the full program;
/// a generation that needs more than the program's shape is passed up whole (the program's
/// safety net), so the Loader widens the program before such tables are judged and narrows
/// it after they no longer are.
public struct ProgramShape: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Keyed tables, by the shape of their entries (one lookup each).
    public static let protoPortExact = ProgramShape(rawValue: 1 << 0)
    public static let protoPortAny = ProgramShape(rawValue: 1 << 1)
    public static let sourceHost = ProgramShape(rawValue: 1 << 2)
    public static let sourcePrefix = ProgramShape(rawValue: 1 << 3)
    public static let sourceProtoPortHostExact = ProgramShape(rawValue: 1 << 4)
    public static let sourceProtoPortHostAny = ProgramShape(rawValue: 1 << 5)
    public static let sourceProtoPortPrefixExact = ProgramShape(rawValue: 1 << 6)
    public static let sourceProtoPortPrefixAny = ProgramShape(rawValue: 1 << 7)
    /// Fallback rows exist (the bounded walk, CONTINUE positions and their counting).
    public static let fallback = ProgramShape(rawValue: 1 << 8)
    /// Some fallback row tests a conntrack state (the kfunc lookup).
    public static let conntrack = ProgramShape(rawValue: 1 << 9)
    /// Some fallback row has extension tests (addrtype, limit, recent, string, ...).
    public static let extensionTests = ProgramShape(rawValue: 1 << 10)
    /// The ruleset NATs: a drop is first checked against conntrack.
    public static let natCheck = ProgramShape(rawValue: 1 << 11)
    /// Some position is answered with REJECT's reply from XDP.
    public static let reject = ProgramShape(rawValue: 1 << 12)
    /// `--xdp-only`: accepted packets are counted in XDP too.
    public static let xdpOnly = ProgramShape(rawValue: 1 << 13)

    static let tables: ProgramShape = [.protoPortExact, .protoPortAny, .sourceHost, .sourcePrefix,
                                       .sourceProtoPortHostExact, .sourceProtoPortHostAny,
                                       .sourceProtoPortPrefixExact, .sourceProtoPortPrefixAny]
    /// Every path: the program as built.
    public static let full = ProgramShape(rawValue: (1 << 14) - 1)

    /// The shape `tables` needs.
    public init(_ tables: CompiledTables) {
        var s: ProgramShape = []
        for k in tables.protoPort.keys { s.insert(k.port == nil ? .protoPortAny : .protoPortExact) }
        for k in tables.source.keys { s.insert(k.length == 32 ? .sourceHost : .sourcePrefix) }
        for k in tables.sourceProtoPort.keys { s.insert(ProgramShape.table(of: k)) }
        if !tables.fallback.isEmpty { s.insert(.fallback) }
        // A CONTINUE-without-entry position looks the conntrack entry up too.
        if tables.needsConntrack || tables.verdicts.contains(.continueWithoutEntry) { s.insert(.conntrack) }
        if tables.fallback.contains(where: { !$0.ext.isEmpty }) { s.insert(.extensionTests) }
        if tables.natCheck { s.insert(.natCheck) }
        if tables.verdicts.contains(.reject) || tables.policy == .reject { s.insert(.reject) }
        if tables.xdpOnly { s.insert(.xdpOnly) }
        self = s
    }

    /// The table bit of a source+proto+port entry.
    public static func table(of k: CompiledTables.SourceProtoPort) -> ProgramShape {
        switch (k.source.length == 32, k.protoPort.port == nil) {
        case (true, false): return .sourceProtoPortHostExact
        case (true, true): return .sourceProtoPortHostAny
        case (false, false): return .sourceProtoPortPrefixExact
        case (false, true): return .sourceProtoPortPrefixAny
        }
    }

    public var description: String {
        if self == .full { return "full" }
        let names: [(ProgramShape, String)] = [
            (.protoPortExact, "proto-port"), (.protoPortAny, "proto"), (.sourceHost, "src-host"),
            (.sourcePrefix, "src-prefix"), (.sourceProtoPortHostExact, "src-host-port"),
            (.sourceProtoPortHostAny, "src-host-proto"), (.sourceProtoPortPrefixExact, "src-prefix-port"),
            (.sourceProtoPortPrefixAny, "src-prefix-proto"), (.fallback, "fallback"), (.conntrack, "conntrack"),
            (.extensionTests, "ext"), (.natCheck, "nat"), (.reject, "reject"), (.xdpOnly, "xdp-only"),
        ]
        let on = names.filter { contains($0.0) }.map(\.1)
        return on.isEmpty ? "minimal" : on.joined(separator: ",")
    }
}
