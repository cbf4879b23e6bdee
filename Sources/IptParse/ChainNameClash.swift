/// User chains named like targets. iptables-nft's `-E` renames a chain to any name, ACCEPT
/// and DROP included, and `-N LOG` is taken; iptables-save then prints a jump to such a chain
/// exactly as the target (`-A INPUT -j DROP`, `-A INPUT -j LOG`), and what the kernel holds
/// cannot be read back from the text: iptables-restore refuses a chain named ACCEPT, DROP,
/// RETURN or QUEUE, and reads `-j LOG` as the jump when a chain LOG exists, where `iptables
/// -A INPUT -j LOG` on the command line loaded the LOG target (both verified with iptables
/// 1.8.9 nf_tables, the kernel's rules listed with nft). A reader of iptables-save text that
/// meets one of these must not guess (XDP would drop for a jump the kernel never takes).
extension Table {
    /// The chain names whose jumps read back as something else, or not at all: user chains
    /// named like a standard verdict, and user chains named like a target extension that a
    /// `-j` names.
    public var targetLikeChains: [String] {
        let jumped = Set(chains.flatMap { c in c.rules.compactMap { r -> String? in
            if case .jump(let t) = r.target { return t } else { return nil }
        } })
        return chains.filter { c in
            !c.isBuiltin && (CommandLineParser.standardTargets[c.name] != nil
                || (jumped.contains(c.name) && (ExtensionCatalog.target(c.name, family: .ipv4) ?? ExtensionCatalog.target(c.name, family: .ipv6)) != nil))
        }.map(\.name)
    }
}

extension Ruleset {
    /// Whether iptables-save's text of this ruleset says something else than the ruleset.
    public var savesAmbiguously: Bool { tables.contains { !$0.targetLikeChains.isEmpty } }
}
