import Foundation
import IptParse

/// With `--xdp-only` the kernel's filter INPUT is left empty (policy ACCEPT) and XDP decides
/// alone; INPUT's policy and rules are kept here instead, as `iptables-save` text of the
/// filter table with INPUT only. Everything else of the ruleset stays in the kernel.
struct XdpOnlyInput {
    let store: StateStore

    var isActive: Bool { store.exists(store.paths.xdpOnlyInputFile) }

    /// INPUT as we keep it; nil when not in --xdp-only mode.
    func chain() -> Chain? {
        guard let text = store.read(store.paths.xdpOnlyInputFile),
              let r = try? RestoreParser.parse(text, options: .init(file: store.paths.xdpOnlyInputFile)) else { return nil }
        return r.table("filter")?.chain("INPUT")
    }

    func save(_ input: Chain) throws {
        var t = Table(name: "filter")
        t.chains = t.chains.map { $0.name == "INPUT" ? input : $0 }
        // The user chains INPUT jumps to, declared empty, so the text parses on its own
        // (their rules are the kernel's).
        var declared: Set<String> = []
        for r in input.rules {
            switch r.target {
            case .jump(let c)?, .goto(let c)?:
                if declared.insert(c).inserted { t.chains.append(Chain(name: c)) }
            default: break
            }
        }
        try store.write(SavePrinter.save(Ruleset(family: .ipv4, tables: [t])), to: store.paths.xdpOnlyInputFile)
    }

    func clear() { store.remove(store.paths.xdpOnlyInputFile) }

    /// The ruleset as the user wrote it: the kernel's, with our INPUT in place of its empty one.
    static func merged(_ kernel: Ruleset, input: Chain) -> Ruleset {
        var r = kernel
        var filter = r.table("filter") ?? Table(name: "filter")
        if let i = filter.index(of: "INPUT") { filter.chains[i] = input } else { filter.chains.insert(input, at: 0) }
        r.replaceTable(filter)
        return r
    }

    /// What the kernel holds instead: the same ruleset with filter INPUT empty and ACCEPT.
    static func kernelPart(_ full: Ruleset) -> Ruleset {
        var r = full
        guard var filter = r.table("filter"), let i = filter.index(of: "INPUT") else { return r }
        filter.chains[i] = Chain(name: "INPUT", policy: "ACCEPT")
        r.replaceTable(filter)
        return r
    }
}
