import Compiler
import Foundation
import IptParse

extension Firewall {
    /// `ebpf-iptables attach IFACE`: loads, pins and attaches the program, then compiles what
    /// the kernel layer holds now. Until then (and for anything it does not decide) packets
    /// go to the kernel's iptables as before.
    public func attach(interface: String, mode: String) throws -> ToolResult {
        try locked("ebpf-iptables attach \(interface)") {
            if let (a, _) = try attached() {
                return ToolResult(status: 1, stderr: "ebpf-iptables: attach \(interface): already attached to \(a.interface); detach it first\n")
            }
            let xdp: XDPLayer
            do {
                xdp = try host.attach(interface: interface, mode: mode)
            } catch {
                return ToolResult(status: 1, stderr: "ebpf-iptables: \(error)\n")
            }
            let a = Attachment(interface: interface, mode: mode)
            try store.save(a)
            var options = store.compileOptions
            if options.xdpOnly && !XdpOnlyInput(store: store).isActive {
                options.xdpOnly = false
                try store.saveCompileOptions(options)
            }
            let view = try readView()
            try installWhole(xdp: xdp, attachment: a, options: options, view: view)
            let summary = try xdp.summary()
            let counts = layerCounts(view, attachment: a, options: options)
            return ToolResult(status: 0, stdout: "attached to \(interface) (\(mode) XDP, program id \(summary.programID)); \(counts)\n")
        }
    }

    /// `ebpf-iptables detach IFACE`: the kernel layer keeps deciding everything. With
    /// --xdp-only, filter INPUT goes back into the kernel first, so no packet meets an empty INPUT.
    public func detach(interface: String) throws -> ToolResult {
        try locked("ebpf-iptables detach \(interface)") {
            guard let a = store.attachment, a.interface == interface else {
                return ToolResult(status: 1, stderr: "ebpf-iptables: detach \(interface): ebpf-iptables is not attached there\n")
            }
            let xdpOnly = XdpOnlyInput(store: store)
            if let input = xdpOnly.chain() {
                let saved = kernel.save(.ipv4, counters: true)
                guard saved.ok, let kernelRules = try? RestoreParser.parse(saved.stdout, options: .init(file: "<iptables-save>")) else {
                    return ToolResult(status: 1, stderr: "ebpf-iptables: detach \(interface): cannot read the kernel's ruleset to put INPUT back; still attached\n")
                }
                let merged = XdpOnlyInput.merged(kernelRules, input: input)
                guard let filter = merged.table("filter") else { return ToolResult(status: 1) }
                let r = kernel.restore(.ipv4, SavePrinter.save(Ruleset(family: .ipv4, tables: [filter]), counters: true),
                                       noflush: false, counters: true)
                guard r.ok else {
                    return ToolResult(status: 1, stderr: "ebpf-iptables: detach \(interface): putting INPUT back into the kernel failed: \(r.stderr)still attached\n")
                }
                xdpOnly.clear()
                var options = store.compileOptions
                options.xdpOnly = false
                try store.saveCompileOptions(options)
            }
            do {
                try host.detach(interface: interface)
            } catch {
                return ToolResult(status: 1, stderr: "ebpf-iptables: \(error)\n")
            }
            _ = kernel.keepConntrack(false)
            store.clearAttachment()
            return ToolResult(status: 0, stdout: "detached from \(interface)\n")
        }
    }

    /// "N of M INPUT rules decided in XDP" for a view.
    func layerCounts(_ view: KernelView, attachment: Attachment, options: CompileOptions) -> String {
        let p = program(for: view, interface: attachment.interface, options: options)
        guard let report = p.result?.report else { return "the kernel's ruleset could not be read: XDP passes everything" }
        let x = report.count(.xdp, scope: .input), k = report.count(.kernel, scope: .input)
        return "\(x) of \(x + k) filter INPUT rules decided in XDP, \(k) in the kernel"
    }

    /// `ebpf-iptables-save [-c] [-t TABLE]`: the kernel's own `iptables-save`, with what XDP
    /// decided added to the counters, and with --xdp-only the INPUT kept in our state.
    public func save(family: Family, counters: Bool, table: String?) throws -> ToolResult {
        try locked("ebpf-iptables-save") {
            guard family == .ipv4 else {
                var r = kernel.save(.ipv6, counters: counters, table: table)
                if counters, r.ok { r.stdout = try mergeIPv6Counters(r.stdout) }
                return r
            }
            var r = kernel.save(.ipv4, counters: counters, table: table)
            guard r.ok, let (_, xdp) = try attached() else { return r }
            if let input = XdpOnlyInput(store: store).chain(),
               let k = try? RestoreParser.parse(r.stdout, options: .init(file: "<iptables-save>")) {
                var merged = XdpOnlyInput.merged(k, input: input)
                if let table { merged.tables = merged.tables.filter { $0.name == table } }
                r.stdout = SavePrinter.save(merged, counters: counters)
            }
            if counters, let live = try xdp.liveGeneration(), let ruleset = KernelView.rules(r.stdout, family: .ipv4).ruleset {
                let merge = CounterMerge(identities: RuleIdentity.all(in: ruleset),
                                         xdp: RetiredCounters(store: store).totals(live: try xdp.counters(generation: live), replies: try xdp.replyCounters(generation: live)))
                r.stdout = merge.save(r.stdout)
            }
            return r
        }
    }
}
