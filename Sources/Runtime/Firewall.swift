import Compiler
import Foundation
import IptParse
import Loader

/// The running firewall: the kernel layer (the system's iptables and ipset, holding the
/// whole ruleset) and the XDP layer in front of it, changed together so that XDP never
/// drops a packet the kernel's ruleset of that instant accepts (docs/two-layers.md).
///
/// Every public operation takes the state lock for its whole length and returns what the
/// tool it stands in for would print, and its exit status; the CLI only prints that.
///
/// Sendable without the compiler's proof: its stored properties never change after init,
/// and every operation runs under the state lock, an flock(2) on a descriptor opened per
/// call, which excludes other threads of this process (the agent) as it excludes other
/// processes (a CLI running alone).
public final class Firewall: @unchecked Sendable {
    public let store: StateStore
    let kernel: KernelLayer
    let host: XDPHost
    let lock: StateLock

    public init(paths: Paths, kernel: KernelLayer, host: XDPHost, lockWait: Duration = StateLock.defaultWait()) {
        self.store = StateStore(paths: paths)
        self.kernel = kernel
        self.host = host
        self.lock = StateLock(path: paths.lockFile, wait: lockWait)
    }

    /// Runs `body` holding the state lock. `command` names us to a waiter that gives up.
    func locked<T>(_ command: String, _ body: () throws -> T) throws -> T {
        try store.ensureDirectory()
        return try lock.withLock(command: command, body)
    }

    /// The attached XDP layer, or nil with nothing attached. An attachment whose pins are
    /// gone (bpffs is emptied by a reboot) or whose program was detached by someone else is
    /// forgotten here, with an event: the kernel layer alone then decides, as it always can.
    func attached() throws -> (Attachment, XDPLayer)? {
        guard let a = store.attachment else { return nil }
        guard let xdp = try host.open(interface: a.interface) else {
            store.event("attachment to \(a.interface) found without its program (pins gone or detached): forgotten; a program of ours left there without its pins is detached")
            store.clearAttachment()
            return nil
        }
        return (a, xdp)
    }

    // MARK: reading the kernel layer

    func readRules(_ family: Family) throws -> (text: String, ruleset: Ruleset?) {
        let r = kernel.save(family, counters: false)
        guard r.ok else { throw RuntimeError.tool("read the kernel's ruleset: \(family == .ipv6 ? "ip6tables-save" : "iptables-save") exited \(r.status): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        return KernelView.rules(r.stdout, family: family)
    }

    func readSets() throws -> (text: String, sets: IpsetScript?) {
        let r = kernel.ipset(["save"], stdin: nil)
        guard r.ok else { throw RuntimeError.tool("read the kernel's sets: ipset save exited \(r.status): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        return (r.stdout, KernelView.sets(r.stdout))
    }

    /// The IPv4 kernel layer as XDP is compiled from it.
    func readView() throws -> KernelView {
        let rules = try readRules(.ipv4)
        let sets = try readSets()
        return KernelView(rulesText: rules.text, ruleset: rules.ruleset, setsText: sets.text, sets: sets.sets)
    }

    // MARK: compiling

    /// What XDP runs for `view` on `interface`: the tables and, per position, the rules
    /// whose counters its drops belong to.
    func program(for view: KernelView, interface: String, options: CompileOptions) -> XDPProgram {
        guard var ruleset = view.ruleset else { return XDPProgram.passEverything }
        if options.xdpOnly, let input = XdpOnlyInput(store: store).chain() {
            ruleset = XdpOnlyInput.merged(ruleset, input: input)
        }
        let sets = view.sets.flatMap { $0.sets.isEmpty ? nil : $0 }
        let result = Compiler.compile(ruleset, sets: sets, interface: interface, options: options)
        var program = XDPProgram(result: result, ruleset: ruleset)
        if !program.replyPositions.isEmpty, let present = kernel.builtinChains(.ipv4) { program.keepPolicies(of: present) }
        return program
    }

    // MARK: changing both layers

    /// Applies `change` to the kernel layer with XDP kept safe all along: in transition to
    /// `predicted` (a packet is dropped only if the old and the predicted tables both drop
    /// it), or passing everything when nothing could be predicted; then installs what the
    /// kernel holds afterwards. Returns the tool's result and the view read back.
    func changeBothLayers(xdp: XDPLayer, attachment: Attachment, options: CompileOptions, before: KernelView,
                          predicted: XDPProgram?, readBack: () throws -> KernelView,
                          carry: (KernelView) -> CounterCarry = { _ in .none },
                          change: () -> ToolResult) throws -> (ToolResult, KernelView) {
        let live = try xdp.liveGeneration()
        let idle: UInt32 = live.map { 1 - $0 } ?? 0
        var passAll = false
        if let predicted {
            try xdp.write(predicted.tables, generation: idle)
            if live != nil { try xdp.beginTransition() }
        } else {
            try xdp.setPassAll(true)
            passAll = true
        }
        let result = change()
        do {
            let after = try readBack()
            if !result.ok && after == before {
                // Refused, nothing changed: the live generation is still exact.
                if predicted != nil, live != nil { try xdp.cancelTransition() }
            } else {
                let actual = program(for: after, interface: attachment.interface, options: options)
                let moved = carry(after)
                if let predicted, predicted.tables == actual.tables {
                    try retireAndActivate(xdp: xdp, generation: idle, program: actual, carry: moved)
                } else {
                    // Not what we predicted: pass everything, end the transition (both
                    // generations judge during one, so neither may be rewritten), then install
                    // what the kernel holds.
                    if !passAll { try xdp.setPassAll(true); passAll = true }
                    if predicted != nil, live != nil { try xdp.cancelTransition() }
                    try xdp.write(actual.tables, generation: idle)
                    try retireAndActivate(xdp: xdp, generation: idle, program: actual, carry: moved)
                    if predicted != nil && result.ok {
                        store.event("prediction mismatch: the kernel holds what we did not predict; installed what it holds")
                    }
                }
                try cache(after)
            }
            if passAll { try xdp.setPassAll(false) }
            return (result, after)
        } catch {
            // Whatever failed, XDP must not judge by tables the kernel may no longer hold.
            try? xdp.setPassAll(true)
            store.event("change left unfinished (\(error)): XDP passes everything until the next command")
            throw error
        }
    }

    /// Flips to `generation` and folds what the old generation dropped into the per-rule
    /// totals, so that counters survive the rewrite (the kernel's own counters do).
    /// `carry` moves the retired counts to the rules' identities after the change.
    func retireAndActivate(xdp: XDPLayer, generation: UInt32, program: XDPProgram, carry: CounterCarry = .none) throws {
        let old = try xdp.liveGeneration()
        try xdp.activate(generation: generation)
        let counters = RetiredCounters(store: store)
        if let old {
            let positions = counters.livePositions()
            if let dropped = try? xdp.counters(generation: old) { counters.retire(dropped, positions: positions) }
            if let replies = try? xdp.replyCounters(generation: old) {
                counters.retireReplies(replies, positions: counters.liveReplyPositions())
            }
        }
        counters.carry(carry)
        counters.keepOnly(program.identities)
        counters.setLivePositions(program.positions)
        counters.setLiveReplyPositions(program.replyPositions)
    }

    /// Installs `view` whole, after an attach, a recovery, or a change made behind our back.
    /// Passes everything while the idle generation is written if one is live.
    func installWhole(xdp: XDPLayer, attachment: Attachment, options: CompileOptions, view: KernelView) throws {
        let prog = program(for: view, interface: attachment.interface, options: options)
        let live = try xdp.liveGeneration()
        let idle: UInt32 = live.map { 1 - $0 } ?? 0
        if live != nil, try xdp.pendingChange() {
            // A change killed half-way can leave a transition on: both generations judge
            // packets then and neither may be written (the data plane refuses). Pass
            // everything, end the transition, then write.
            try xdp.setPassAll(true)
            try xdp.cancelTransition()
        }
        try xdp.write(prog.tables, generation: idle)
        try retireAndActivate(xdp: xdp, generation: idle, program: prog)
        try xdp.setPassAll(false)
        try xdp.clearGuard()
        try cache(view)
    }

    /// What XDP was compiled from, for the fast paths and `status`.
    func cache(_ view: KernelView) throws {
        try store.write(view.rulesText, to: store.paths.kernelRulesFile)
        try SetsMirror(store: store).replace(with: view.setsText)
    }

    /// At the start of a command: a previous one that died half-way (kill -9) leaves XDP in
    /// a transition, guarded or passing everything — safe, but not what runs. And the kernel
    /// may have been changed behind our back (plain `iptables`). Either way XDP is
    /// recompiled from what the kernel holds now.
    func reconcile(xdp: XDPLayer, attachment: Attachment, options: CompileOptions, view given: KernelView) throws {
        var view = given
        // A restore --ipset killed half-way leaves its temporary sets behind: nothing uses them.
        let leftovers = (view.sets?.sets ?? []).map(\.name).filter(SetsInstall.isTemporary)
        if !leftovers.isEmpty {
            for name in leftovers { _ = kernel.ipset(["destroy", name], stdin: nil) }
            let sets = try readSets()
            view.setsText = sets.text
            view.sets = sets.sets
            store.event("removed the temporary sets of an interrupted restore: \(leftovers.joined(separator: " "))")
        }
        let unfinished = try xdp.pendingChange()
        let cachedRules = store.read(store.paths.kernelRulesFile)
        let drift = cachedRules != view.rulesText || !SetsMirror(store: store).matches(view.setsText)
        guard unfinished || drift else { return }
        if drift { store.event("the kernel's ruleset or sets changed outside ebpf-iptables: XDP recompiled from what it holds") }
        if unfinished { store.event("recovered from an interrupted change") }
        try xdp.setPassAll(true)
        try installWhole(xdp: xdp, attachment: attachment, options: options, view: view)
    }
}
