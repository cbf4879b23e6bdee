/// "The kernel's rules were read back at nftables generation G and were the text XDP is
/// compiled from (the state's kernel.v4, by its FNV-1a hash)": lets a single-member ipset
/// edit skip reading the rules back (an iptables-save start, ~4 ms, more than the kernel's
/// whole `ipset add`) while the generation is still G. The text is part of the stamp: any
/// of our own commands that recompiles rewrites kernel.v4, which voids it. Not seen by the
/// generation (a known gap, as in the agent's kept iptables-save text, docs/agent.md): a set
/// renamed or swapped behind our back with plain ipset, whose new name iptables-save would
/// print.
struct RulesGenerationStamp {
    let store: StateStore

    var path: String { store.paths.stateDir + "/kernel.v4.generation" }

    func holds(generation: UInt32, rules: String) -> Bool {
        store.read(path) == Self.line(generation, rules)
    }

    /// Best effort: without the stamp the next edit reads the rules back, as before.
    func record(generation: UInt32, rules: String) {
        try? store.write(Self.line(generation, rules), to: path)
    }

    static func line(_ generation: UInt32, _ rules: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in rules.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "\(generation) \(rules.utf8.count) \(String(h, radix: 16))\n"
    }
}
