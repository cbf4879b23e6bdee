import Foundation
import IptParse

/// `ebpf-iptables-save -c` of both layers against `iptables-save -c` of the kernel alone,
/// after the same probes.
///
/// The design (docs/two-layers.md, Counters) says what a packet XDP drops is counted for: its
/// rule, the jumps that led there and, where it applied, INPUT's policy. Every other counter
/// it would have moved in the kernel alone stays where it was: the rules of the tables before
/// filter INPUT (raw, mangle, nat PREROUTING; mangle INPUT) and their policies, and jumps it
/// took and came back from (and the RETURN that brought it back). So, per rule, both layers
/// must show exactly: the kernel alone's count, minus what each XDP-dropped probe moved there
/// in the kernel alone, plus that probe for each rule its position counts for. That is
/// checked for every rule and policy of every table, in packets and bytes; and the rules
/// that decided probes in filter must equal the kernel alone's outright.
struct CounterCheck {
    struct Summary {
        /// Rules and policies whose counters moved in either namespace.
        var moved = 0
        /// Of those, equal to the kernel alone's.
        var equal = 0
        /// Deciding filter rules, all equal.
        var deciding = 0
        /// Rules that differ from the kernel alone's (as the design says they do), by kind.
        var beforeInput: [String] = []
        var passThrough: [String] = []
        var problems: [String] = []
        var skipped: String?

        var line: String {
            if let skipped { return "counters not compared (\(skipped))" }
            func list(_ l: [String]) -> String { l.isEmpty ? "none" : l.joined(separator: ", ") }
            return "counters: \(moved) moved, \(equal) equal to the kernel alone's (\(deciding) deciding filter rules among them); "
                + "lower by XDP's drops as designed: before filter INPUT \(list(beforeInput)); jumps/RETURNs passed through \(list(passThrough))"
        }
    }

    let names: PositionNames
    private var startRef = NetfilterSnapshot(), startTwo = NetfilterSnapshot()
    private var adjust: [RuleName: (packets: Int64, bytes: Int64)] = [:]
    private var deciding: Set<RuleName> = []

    init(names: PositionNames) { self.names = names }

    mutating func start(ref: NetfilterSnapshot, two: NetfilterSnapshot) {
        startRef = ref
        startTwo = two
    }

    /// One probe: what it moved in the kernel alone, and where XDP dropped it in both layers.
    /// `replyPlaces`: XDP answered it (REJECT), and its reply counts where the kernel's did.
    mutating func record(ref moved: NetfilterSnapshot, decidedBy rule: RuleName?, xdpPosition: Int?, continued: [Int] = [], ipBytes: UInt64,
                         replyPlaces: Set<RuleName> = []) {
        if let rule, rule.table == "filter" { deciding.insert(rule) }
        guard let xdpPosition else { return }
        for (r, c) in moved.rules where !replyPlaces.contains(r) {
            adjust[r, default: (0, 0)].packets -= Int64(c.packets)
            adjust[r, default: (0, 0)].bytes -= Int64(c.bytes)
        }
        // The CONTINUE positions it met are counted with it (their own rule each).
        for r in names.counted(xdpPosition) + continued.flatMap(names.counted) {
            adjust[r, default: (0, 0)].packets += 1
            adjust[r, default: (0, 0)].bytes += Int64(ipBytes)
        }
    }

    func finish(ref: NetfilterSnapshot, two: NetfilterSnapshot, path: InputPath) -> Summary {
        var s = Summary()
        let keys = Set(ref.rules.keys).union(two.rules.keys).sorted()
        func d(_ a: NetfilterSnapshot, _ b: NetfilterSnapshot, _ r: RuleName) -> (Int64, Int64) {
            let x = a.rules[r] ?? Count(), y = b.rules[r] ?? Count()
            return (Int64(bitPattern: x.packets &- y.packets), Int64(bitPattern: x.bytes &- y.bytes))
        }
        for r in keys {
            let kernelAlone = d(ref, startRef, r), both = d(two, startTwo, r)
            let a = adjust[r] ?? (0, 0)
            let expected = (kernelAlone.0 + a.packets, kernelAlone.1 + a.bytes)
            if kernelAlone == (0, 0) && both == (0, 0) { continue }
            s.moved += 1
            if both != expected {
                s.problems.append("\(r): both layers counted \(both.0)/\(both.1), the design says \(expected.0)/\(expected.1) (kernel alone \(kernelAlone.0)/\(kernelAlone.1))")
                continue
            }
            if both == kernelAlone {
                s.equal += 1
                if deciding.contains(r) { s.deciding += 1 }
                continue
            }
            if deciding.contains(r) {
                s.problems.append("\(r) decided probes: both layers counted \(both.0)/\(both.1), the kernel alone \(kernelAlone.0)/\(kernelAlone.1)")
            }
            let order = path.order[r.table + " " + r.chain]
            if r.table != "filter" || order != 4 {
                s.beforeInput.append("\(r)")
            } else {
                switch path.target(r) {
                case .jump?, .goto?, .return?: s.passThrough.append("\(r)")
                default: s.problems.append("\(r): differs (\(both.0) vs \(kernelAlone.0) packets) and is neither before filter INPUT nor a jump or RETURN")
                }
            }
        }
        return s
    }
}
