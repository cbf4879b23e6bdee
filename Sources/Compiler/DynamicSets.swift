import IptParse

/// Which sets XDP may copy. The XDP tables hold the members a compile saw; a set whose
/// members change inside the kernel (entries expire, or a `-j SET` rule adds and deletes
/// them as packets pass) would leave XDP deciding by a stale copy. A match on such a set
/// is an unsupported test: the rule keeps its place as a `KERNEL` position.
enum DynamicSets {
    static func trust(sets: IpsetScript?, ruleset: Ruleset) -> [String: AtomLowering.SetTrust] {
        let writers = writtenSets(ruleset)
        var out: [String: AtomLowering.SetTrust] = [:]
        for s in sets?.sets ?? [] {
            let kinds = s.create.type.elementKinds
            if s.create.timeout != nil {
                out[s.name] = .dynamic(.timeout)
            } else if let w = writers[s.name] {
                out[s.name] = .dynamic(.writtenBy(w))
            } else if kinds.count == 1 && (kinds[0] == .ip || kinds[0] == .net) && s.create.family == .inet {
                out[s.name] = .usable
            } else {
                out[s.name] = .notIPv4Source
            }
        }
        return out
    }

    /// Sets some rule of any table writes with `-j SET --add-set/--del-set`, with the first
    /// such rule. (`--map-set` only reads a set.)
    static func writtenSets(_ ruleset: Ruleset) -> [String: RuleRef] {
        var out: [String: RuleRef] = [:]
        for table in ruleset.tables {
            for chain in table.chains {
                for (i, rule) in chain.rules.enumerated() {
                    guard case .opaque(let e)? = rule.target, e.name == "SET" else { continue }
                    for o in e.options where o.name == "add-set" || o.name == "del-set" {
                        guard let name = o.args.first, out[name] == nil else { continue }
                        out[name] = RuleRef(table: table.name, chain: chain.name, index: i + 1, line: rule.location?.line)
                    }
                }
            }
        }
        return out
    }
}
