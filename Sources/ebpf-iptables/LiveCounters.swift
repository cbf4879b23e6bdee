import Compiler
import Foundation
import IptParse
import Loader

/// Packet and byte counters for `-L -v`, `-S -v` and `ebpf-iptables-save -c`.
///
/// The XDP program counts per compiled position, and a position is the rule that decided
/// the packet (compiling the running ruleset again maps positions back to written rules;
/// it is pure and cheap). So a rule counts the packets it decided: a jump rule and a rule
/// the compiler left out keep 0, unlike in the kernel, where every rule a packet matches
/// counts it. A RETURN or goto end that falls to INPUT's policy counts on that rule and on
/// the policy. Nothing attached: every counter is 0, as after `iptables -Z`.
enum LiveCounters {
    struct Key: Hashable {
        var chain: String
        var index: Int
    }

    static func source(_ ruleset: Ruleset, store: StateStore) -> ListPrinter.CounterSource {
        guard let a = store.attachment, store.read(store.paths.rulesFile) != nil,
              let dp = try? Dataplane.open(pinnedAt: store.paths.pinRoot),
              let gen = try? dp.liveGeneration(), let counters = try? dp.counters(generation: gen) else { return .zero }
        let sets = (try? LiveCommit.currentSets(store)).flatMap { $0.sets.isEmpty ? nil : $0 }
        let r = Compiler.compile(ruleset, sets: sets, interface: a.interface, options: store.compileOptions)
        var rules: [Key: Counters] = [:]
        var policy = Counters(packets: 0, bytes: 0)
        func add(_ c: inout Counters, _ x: RuleCounter) {
            c.packets &+= x.packets
            c.bytes &+= x.bytes
        }
        for (pos, origin) in r.origins.enumerated() where pos < counters.count {
            add(&rules[Key(chain: origin.rule.chain, index: origin.rule.index), default: Counters(packets: 0, bytes: 0)], counters[pos])
            if origin.isPolicy { add(&policy, counters[pos]) }
        }
        if counters.count == r.origins.count + 1, let last = counters.last { add(&policy, last) }
        let byRule = rules
        let inputPolicy = policy
        return ListPrinter.CounterSource(
            rule: { chain, n in byRule[Key(chain: chain, index: n)] ?? Counters(packets: 0, bytes: 0) },
            policy: { chain in chain == "INPUT" ? inputPolicy : Counters(packets: 0, bytes: 0) })
    }

    /// The filter table's counters written into the ruleset, for `iptables-save -c`.
    static func annotate(_ ruleset: Ruleset, with source: ListPrinter.CounterSource) -> Ruleset {
        var out = ruleset
        for t in out.tables.indices {
            let isFilter = out.tables[t].name == "filter"
            for c in out.tables[t].chains.indices {
                let name = out.tables[t].chains[c].name
                out.tables[t].chains[c].counters = isFilter ? source.policy(name) : Counters(packets: 0, bytes: 0)
                for i in out.tables[t].chains[c].rules.indices {
                    out.tables[t].chains[c].rules[i].counters = isFilter ? source.rule(name, i + 1) : Counters(packets: 0, bytes: 0)
                }
            }
        }
        return out
    }
}
