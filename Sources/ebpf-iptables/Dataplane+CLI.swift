import ArgumentParser
import Compiler
import Foundation
import IptParse
import Loader

/// `ebpf-iptables attach IFACE`: load the XDP program, pin it, attach it. Packets pass
/// untouched until a ruleset is restored.
struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load the XDP program and attach it to an interface.")

    enum Mode: String, ExpressibleByArgument { case native, generic }

    @Argument(help: "Interface to attach to.")
    var interface: String

    @Option(help: "native (driver) or generic (skb) XDP.")
    var mode: Mode = .native

    func run() throws {
        let store = StateStore(paths: .current)
        try store.locked {
            if let a = store.attachment {
                throw CLIError("attach \(interface): already attached to \(a.interface); detach it first")
            }
            let dp = try Dataplane.load()
            try dp.pin(at: store.paths.pinRoot)
            do {
                try dp.attach(interface: interface, mode: mode == .generic ? .generic : .native)
            } catch {
                try? Dataplane.unpin(at: store.paths.pinRoot)
                throw error
            }
            try store.save(Attachment(interface: interface, mode: mode.rawValue))
            print("attached to \(interface) (\(mode.rawValue) XDP, program id \(dp.programID)); all packets pass until a ruleset is restored")
        }
    }
}

/// `ebpf-iptables detach IFACE`: detach and leave nothing pinned.
struct Detach: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Detach the XDP program and remove its pins and state.")

    @Argument(help: "Interface to detach from.")
    var interface: String

    func run() throws {
        let store = StateStore(paths: .current)
        try store.locked {
            guard let a = store.attachment, a.interface == interface else {
                throw CLIError("detach \(interface): ebpf-iptables is not attached there")
            }
            try Dataplane.detach(interface: interface)
            try Dataplane.unpin(at: store.paths.pinRoot)
            ConntrackKeeper.remove()
            store.clear()
            print("detached from \(interface)")
        }
    }
}

/// `ebpf-iptables status`.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what is attached and running.")

    @Flag(name: .shortAndLong, help: "Also list each compiled rule with its packet and byte counters.")
    var verbose = false

    func run() throws {
        let store = StateStore(paths: .current)
        let v = Libbpf.version
        guard let a = store.attachment else {
            print("not attached (libbpf \(v.major).\(v.minor); pin root \(store.paths.pinRoot))")
            return
        }
        let dp = try Dataplane.open(pinnedAt: store.paths.pinRoot)
        let gen = try dp.liveGeneration()
        let rules = store.read(store.paths.rulesFile)
        let ruleCount = rules?.split(separator: "\n").filter { $0.hasPrefix("-A ") }.count ?? 0
        print("attached to \(a.interface) (\(a.mode) XDP, program id \(dp.programID), libbpf \(v.major).\(v.minor))")
        print(rules == nil ? "no ruleset restored: all packets pass" : "ruleset: \(ruleCount) rules, generation \(gen) live")
        if let rules {
            let counters = try dp.counters(generation: gen)
            let packets = counters.reduce(UInt64(0)) { $0 + $1.packets }
            print("packets judged: \(packets)")
            if verbose { try printRules(rules, counters: counters, store: store, interface: a.interface) }
        }
    }
}

extension Status {
    /// Positions map back to rules by compiling the saved ruleset again (a pure, cheap step).
    func printRules(_ text: String, counters: [RuleCounter], store: StateStore, interface: String) throws {
        let ruleset = try RestoreParser.parse(text, options: .init(file: store.paths.rulesFile))
        let sets = try store.read(store.paths.setsFile).map { try IpsetParser.parse($0, file: store.paths.setsFile) }
        let r = Compiler.compile(ruleset, sets: sets, interface: interface, options: CompileOptions(rejectAsDrop: true, inputOnly: true))
        print("  pkts      bytes  decided by")
        for (pos, origin) in r.origins.enumerated() where pos < counters.count {
            let c = counters[pos]
            let rule = ruleset.table("filter")?.chain(origin.rule.chain)?.rules[origin.rule.index - 1]
            let text = rule.map { RulePrinter.save($0, chain: origin.rule.chain, family: .ipv4) } ?? ""
            print(String(format: "%6llu %10llu  ", c.packets, c.bytes) + (origin.isPolicy ? "policy via " : "") + text)
        }
        if let p = counters.last, counters.count == r.origins.count + 1 {
            print(String(format: "%6llu %10llu  ", p.packets, p.bytes) + "policy \(r.tables.policy == .accept ? "ACCEPT" : "DROP")")
        }
    }
}

/// Compiles a ruleset for the attached interface and swaps it in atomically.
enum Installer {
    /// `quietNotes`: live edits (iptables' and ipset's command lines) print what those tools
    /// print, so the notes on rules compiled with a change stay for `restore`.
    static func install(_ ruleset: Ruleset, sets: IpsetScript?, source: String, options: CompileOptions, store: StateStore,
                        quietNotes: Bool = false) throws {
        guard let a = store.attachment else {
            throw CLIError("restore: nothing is attached; run 'ebpf-iptables attach IFACE' first")
        }
        let result = Compiler.compile(ruleset, sets: sets, interface: a.interface, options: options)
        guard result.installable else {
            for r in result.report.blocking(inputOnly: options.inputOnly) {
                Diagnostics.fail("\(source):\(r.ref.line.map(String.init) ?? "?"): error: \(r.status.detail)\n  \(r.text)")
            }
            for n in result.report.notes { Diagnostics.fail("note: \(n)") }
            Diagnostics.fail("restore: nothing was applied")
            throw ExitCode(1)
        }
        for r in result.report.rules where !quietNotes {
            if case .changedOnRequest(let why) = r.status {
                Diagnostics.fail("\(source):\(r.ref.line.map(String.init) ?? "?"): note: \(why)")
            }
        }
        let dp = try Dataplane.open(pinnedAt: store.paths.pinRoot)
        // The generation not live is rewritten, then flipped: no packet sees half of each.
        let next: UInt32 = try dp.flags.contains(.empty) ? 0 : 1 - dp.liveGeneration()
        try dp.write(result.tables, generation: next)
        try dp.activate(generation: next)
        try store.write(SavePrinter.save(ruleset), to: store.paths.rulesFile)
        try store.saveCompileOptions(options)
        try store.setLiveHasHoles(result.tables.hasHoles)
        if let sets {
            try store.write(IpsetPrinter.save(sets), to: store.paths.setsFile)
            SetsJournal(store: store).dropJournal()
        }
        if result.tables.needsConntrack { try ConntrackKeeper.ensure() }
    }
}

/// The kernel tracks connections in a network namespace only while something there asks
/// for it. A ruleset with conntrack states needs that tracking for its ESTABLISHED/RELATED
/// lookups, so we keep a one-rule nftables table that references conntrack; `detach`
/// removes it. (Without it every lookup finds nothing and replies are judged NEW.)
enum ConntrackKeeper {
    static let table = "ebpf_iptables_conntrack"

    static func ensure() throws {
        // Declaring, deleting and declaring again replaces the table in one transaction.
        let script = """
        table inet \(table)
        delete table inet \(table)
        table inet \(table) {
            chain keep {
                type filter hook prerouting priority -300; policy accept;
                ct state invalid,new,established,related counter
            }
        }
        """
        let r = runNft(["-f", "-"], stdin: script)
        guard r == 0 else { throw CLIError("restore: cannot turn conntrack on (nft exited \(r)); is nftables installed?") }
    }

    static func remove() {
        _ = runNft(["delete", "table", "inet", table], stdin: nil)
    }

    static func runNft(_ args: [String], stdin: String?) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/nft")
        p.arguments = args
        let inPipe = Pipe()
        p.standardInput = inPipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
