import Compiler
import IptParse
import TestSupport

/// Random rulesets and packets over a small universe: a few sources, ports and protocols,
/// user chains with jumps, gotos and RETURNs, rules before INPUT, sets (fixed, with
/// timeouts, written by `-j SET`, undefined) and matches no compiler can decide (limit,
/// string, addrtype, mark). `exact` leaves out everything that needs the kernel by
/// design, so what is left must compile to ACCEPT/DROP positions only.
struct RandomRulesets {
    var rng: SplitMix
    let exact: Bool
    /// More RETURNs and gotos, each with any number of tests (negations included), and
    /// deeper chains: the walk's disjunctions (`FlatRule.alternatives`) get exercised.
    var returnHeavy = false

    struct Generated {
        var text: String
        var staticSets: [String: [(address: UInt32, length: Int)]]
        var rejectAsDrop: Bool
    }

    static let setsText = """
        create wl hash:net family inet hashsize 1024 maxelem 65536
        add wl 10.1.0.0/16
        add wl 192.0.2.0/24
        create bl hash:ip family inet hashsize 1024 maxelem 65536
        add bl 198.51.100.7
        add bl 10.1.2.3
        create tmp hash:ip family inet hashsize 1024 maxelem 65536 timeout 60
        add tmp 203.0.113.1 timeout 50
        create dyn hash:ip family inet hashsize 1024 maxelem 65536
        add dyn 10.200.0.1

        """

    static func ip(_ s: String) -> UInt32 { s.split(separator: ".").reduce(0) { $0 << 8 | UInt32($1)! } }

    let prefixes = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "192.0.2.0/24", "198.51.100.7/32", "203.0.113.0/24"]
    let sources = ["10.1.2.3", "10.1.9.9", "10.200.0.1", "192.0.2.50", "198.51.100.7", "203.0.113.1", "172.16.0.1"]

    mutating func pick<T>(_ xs: [T]) -> T { xs[rng.below(xs.count)] }
    mutating func chance(_ percent: Int) -> Bool { rng.below(100) < percent }

    // MARK: - rulesets

    mutating func ruleset() -> Generated {
        let rejectAsDrop = chance(50)
        let userChains = rng.below(returnHeavy ? 5 : 4)
        let chains = ["INPUT"] + (0..<userChains).map { "C\($0 + 1)" }
        var writesDyn = false
        var filter = "*filter\n:INPUT \(chance(50) ? "DROP" : "ACCEPT") [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        for c in chains.dropFirst() { filter += ":\(c) - [0:0]\n" }
        for (k, chain) in chains.enumerated() {
            for _ in 0..<(1 + rng.below(k == 0 ? 7 : 5)) {
                let (target, returnLike) = filterTarget(later: Array(chains[(k + 1)...]), rejectAsDrop: rejectAsDrop)
                if target.contains("--add-set dyn") { writesDyn = true }
                // RETURN and goto take any tests XDP can negate one by one; an exact ruleset
                // leaves out the one test that has no negation atom (--ttl-gt).
                let t = returnLike && exact ? (chance(30) ? singleTest() : tests(negatable: true)) : tests()
                filter += "-A \(chain) \(t)\(target)\n"
            }
        }
        filter += "COMMIT\n"
        var text = filter
        if !exact || chance(30) { text = preInputTables() + text }
        var sets: [String: [(address: UInt32, length: Int)]] = [
            "wl": [(Self.ip("10.1.0.0"), 16), (Self.ip("192.0.2.0"), 24)],
            "bl": [(Self.ip("198.51.100.7"), 32), (Self.ip("10.1.2.3"), 32)],
        ]
        if !writesDyn { sets["dyn"] = [(Self.ip("10.200.0.1"), 32)] }
        return Generated(text: text, staticSets: sets, rejectAsDrop: rejectAsDrop)
    }

    /// A target, and whether it takes packets out of the rest of its chain (RETURN, goto).
    mutating func filterTarget(later: [String], rejectAsDrop: Bool) -> (String, Bool) {
        while true {
            if returnHeavy && chance(40) {
                if !later.isEmpty && chance(35) { return ("-g \(pick(later))", true) }
                return ("-j RETURN", true)
            }
            switch rng.below(100) {
            case 0..<20: return ("-j ACCEPT", false)
            case 20..<45: return ("-j DROP", false)
            case 45..<55: return ("-j RETURN", true)
            case 55..<67 where !later.isEmpty: return ("-j \(pick(later))", false)
            case 67..<73 where !later.isEmpty: return ("-g \(pick(later))", true)
            case 73..<79 where !exact || rejectAsDrop: return ("-j REJECT", false)
            // Counts only: a CONTINUE position, exact in XDP too (MARK continues as well, but
            // its mark is the kernel INPUT's: it keeps a ruleset from --xdp-only).
            case 79..<83: return ("", false)
            case 83..<89 where !exact: return ("-j LOG --log-prefix x", false)
            case 89..<92 where !exact: return ("-j SET --add-set dyn src", false)
            case 92..<96 where !exact: return ("-j MARK --set-xmark 0x1/0xffffffff", false)
            case 96..<98 where !exact: return ("-j NFQUEUE --queue-num 1", false)
            default: continue
            }
        }
    }

    mutating func preInputTables() -> String {
        var s = ""
        let raw = (0..<rng.below(returnHeavy ? 4 : 3)).map { _ -> String in
            // An exact raw chain folds its NOTRACKs: tests one atom negates, no state test
            // (raw sees no conntrack entry yet).
            "-A PREROUTING \(exact ? tests(negatable: true, stateless: true) : tests(forNat: false))\(pick(exact ? ["-j DROP", "-j ACCEPT", "", "-j NOTRACK", "-j CT --notrack"] : ["-j DROP", "-j ACCEPT", "-j NOTRACK", "-j CT --notrack", "-j CT --zone 1", ""]))"
        }
        if !raw.isEmpty { s += "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" + raw.joined(separator: "\n") + "\nCOMMIT\n" }
        var mangle = (0..<rng.below(3)).map { _ -> String in
            // An exact raw chain folds its NOTRACKs: tests one atom negates, no state test
            // (raw sees no conntrack entry yet).
            "-A PREROUTING \(exact ? tests(negatable: true, stateless: true) : tests(forNat: false))\(pick(exact ? ["-j ACCEPT", "-j RETURN", "-j M1", "-j DROP"] : ["-j MARK --set-xmark 0x1/0xffffffff", "-j ACCEPT", "-j RETURN", "-j M1", "-j DROP"]))"
        }
        mangle += (0..<rng.below(3)).map { _ in
            "-A M1 \(tests(forNat: false))\(pick(exact ? ["-j RETURN", "-j ACCEPT", "-j DROP"] : ["-j MARK --set-xmark 0x2/0xffffffff", "-j RETURN", "-j ACCEPT"]))"
        }
        mangle += (0..<rng.below(2)).map { _ in
            "-A INPUT \(tests(forNat: false))\(pick(exact ? ["-j ACCEPT", ""] : ["-j MARK --set-xmark 0x3/0xffffffff", "-j ACCEPT", "-j LOG"]))"
        }
        if !mangle.isEmpty {
            s += "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:M1 - [0:0]\n"
                + mangle.joined(separator: "\n") + "\nCOMMIT\n"
        }
        if !exact {
            let nat = (0..<rng.below(3)).map { _ in
                "-A PREROUTING \(tests(forNat: true))\(pick(["-j DNAT --to-destination 198.18.0.9", "-j ACCEPT", "-j RETURN"]))"
            }
            if !nat.isEmpty {
                s += "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                    + nat.joined(separator: "\n") + "\nCOMMIT\n"
            }
        }
        return s
    }

    /// At most one test that lowers to one atom: RETURN and goto with it are inlined exactly.
    mutating func singleTest() -> String {
        let p = pick(prefixes)
        return pick(["-s \(p) ", "! -s \(p) ", "-p tcp ", "-p udp ", "! -p tcp ", "-m conntrack --ctstate NEW ",
                     "-m set --match-set wl src ", "-d 198.18.0.1/32 ", "-i eth0 ", ""])
    }

    /// `negatable`: only tests whose negation one atom says (no `--ttl-gt`).
    mutating func tests(forNat: Bool = false, negatable: Bool = false, stateless: Bool = false) -> String {
        // Rules without tests make catch-alls, which shadow what follows them.
        if chance(12) { return "" }
        var s = ""
        if chance(10) { s += pick(["-i eth0 ", "-i eth1 ", "! -i eth1 ", "-i eth+ ", "! -i eth0 "]) }
        if chance(35) { s += (chance(20) ? "! " : "") + "-s \(pick(prefixes)) " }
        if chance(10) { s += pick(["-d 198.18.0.1/32 ", "-d 198.18.0.0/24 ", "! -d 198.18.0.2/32 "]) }
        if chance(55) {
            let proto = pick(["tcp", "tcp", "udp", "udp", "icmp", "gre"])
            if chance(5) {
                s += "! -p tcp "
            } else {
                s += "-p \(proto) "
                if proto == "tcp" || proto == "udp" {
                    if chance(60) {
                        s += pick(["-m \(proto) --dport \(pick(["22", "53", "80", "5060"])) ", "-m \(proto) --sport 5060 ",
                                   "-m \(proto) --dport 1000:2000 ", "-m \(proto) ! --dport 22 ",
                                   "-m multiport --dports 22,80,5060 ", "-m multiport --ports 53,5060 "])
                    }
                    if proto == "tcp" && chance(15) { s += "-m tcp --syn " }
                } else if proto == "icmp" && chance(40) {
                    s += pick(["-m icmp --icmp-type 8 ", "-m icmp --icmp-type 0 ", "-m icmp ! --icmp-type 8 "])
                }
            }
        }
        if !stateless && chance(20) {
            s += pick(["-m conntrack --ctstate NEW ", "-m conntrack --ctstate RELATED,ESTABLISHED ", "-m state --state INVALID ",
                       "-m conntrack ! --ctstate NEW ", "-m conntrack --ctstate UNTRACKED ", "-m state --state ESTABLISHED,UNTRACKED "])
        }
        if !forNat && chance(15) {
            s += (chance(25) ? "-m set ! --match-set " : "-m set --match-set ") + pick(exact ? ["wl", "bl"] : ["wl", "bl", "tmp", "dyn", "ghost"]) + " src "
        }
        if chance(negatable ? 15 : 7) {
            s += pick(negatable ? ["-m length --length 0:100 ", "-m ttl --ttl-eq 1 ", "-m ttl ! --ttl-eq 20 "]
                                : ["-m length --length 0:100 ", "-m ttl --ttl-eq 1 ", "-m ttl --ttl-gt 10 "])
        }
        if !exact && chance(20) {
            s += pick(["-m limit --limit 5/sec ", "-m string --string foo --algo bm ", "-m addrtype --dst-type LOCAL ", "-m mark --mark 0x1 "])
        }
        return s
    }

    // MARK: - packets

    mutating func packet() -> ReferenceIptables.Packet {
        let proto: UInt8 = pick([6, 6, 17, 17, 1, 47])
        var f = PacketFacts(source: Self.ip(pick(sources)), destination: Self.ip(pick(["198.18.0.1", "198.18.0.2"])), proto: proto)
        if proto == 6 || proto == 17 {
            f.ports = .init(source: pick([1024, 5060, 40000]), destination: pick([22, 53, 80, 1500, 5060, 8080]))
        }
        if proto == 6 { f.tcpFlags = pick([0x02, 0x10, 0x12, 0x11]) }
        if proto == 1 {
            let (t, c): (UInt8, UInt8) = pick([(8, 0), (0, 0), (3, 3)])
            f.icmp = .init(type: t, code: c)
        }
        f.ttl = pick([64, 1, 20])
        f.totalLength = pick([60, 1400])
        return ReferenceIptables.Packet(facts: f, state: pick([.new, .established, .related, .invalid]))
    }
}
