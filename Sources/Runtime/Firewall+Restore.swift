import Compiler
import Foundation
import IptParse

/// One `--ipset FILE`: its name (for diagnostics) and its text.
public struct SetFile: Equatable, Sendable, Codable {
    public var name: String
    public var text: String
    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}

/// What `ebpf-iptables-restore` was asked to do. Codable: the agent receives it over its
/// control socket and its REST API.
public struct RestoreRequest: Equatable, Sendable, Codable {
    public var family: Family
    public var text: String
    /// The file name diagnostics name (`<stdin>` for standard input).
    public var source: String
    /// `--ipset FILE`: (name, text) of each set file, applied before the rules.
    public var setFiles: [SetFile]
    public var noflush = false
    public var counters = false
    public var test = false
    public var options = CompileOptions()
    /// Invoked as plain `iptables-restore` (a drop-in link): refusals in the kernel tool's own
    /// words, byte for byte, instead of our located diagnostics, and no warnings iptables-restore
    /// would not print. Optional so requests of older clients still decode.
    public var kernelWords: Bool?

    public init(family: Family, text: String, source: String, setFiles: [(name: String, text: String)] = []) {
        self.family = family
        self.text = text
        self.source = source
        self.setFiles = setFiles.map { SetFile(name: $0.name, text: $0.text) }
    }
}

extension Firewall {
    /// `ebpf-iptables-restore`: the whole ruleset (every table) and its sets go into the
    /// kernel with the kernel's own tools, after a dry run of exactly that in a throwaway
    /// namespace (iptables-restore commits table by table: a later table's error would
    /// otherwise leave the earlier ones applied). XDP follows what the kernel then holds.
    public func restore(_ req: RestoreRequest) throws -> ToolResult {
        try locked("ebpf-iptables-restore\(req.noflush ? " --noflush" : "") \(req.source)") {
            try restoreLocked(req)
        }
    }

    private func restoreLocked(_ req: RestoreRequest) throws -> ToolResult {
        var notes = ""
        // The sets files, read by our parser (ipset's syntax and semantics).
        var fileSets = IpsetScript()
        for f in req.setFiles {
            do {
                fileSets.sets += try IpsetParser.parse(f.text, file: f.name).sets
            } catch {
                return ToolResult(status: 2, stderr: "\(error)\n")
            }
        }
        // `iptables-restore --test` under the plain name: the kernel tool's own check, its
        // answer and words (it commits nothing).
        if req.test, req.kernelWords == true, req.setFiles.isEmpty, !req.options.xdpOnly {
            return kernel.restoreTest(req.family, req.text, noflush: req.noflush)
        }
        let attachment = req.family == .ipv4 ? try attached() : nil
        if req.options.xdpOnly && attachment == nil && !req.test {
            return ToolResult(status: 1, stderr: "ebpf-iptables-restore: --xdp-only needs the XDP program: run 'ebpf-iptables attach IFACE' first; nothing was applied\n")
        }
        let before = try readRules(req.family)
        let beforeSets = try readSets()
        let options = req.options
        let xdpOnly = XdpOnlyInput(store: store)
        // What we make of the text; the kernel has the last word on what it accepts.
        var base: Ruleset? = nil
        if req.noflush {
            base = before.ruleset.map { r in
                if req.family == .ipv4, xdpOnly.isActive, let input = xdpOnly.chain() { return XdpOnlyInput.merged(r, input: input) }
                return r
            }
        }
        let parsed: Ruleset?
        var ourErrors: String? = nil
        do {
            parsed = try RestoreParser.parse(req.text, options: .init(family: req.family, file: req.source, noflush: req.noflush, base: base))
        } catch {
            parsed = nil
            ourErrors = "\(error)"
        }
        var kernelText = req.text
        if options.xdpOnly {
            guard let parsed else {
                return ToolResult(status: 2, stderr: (ourErrors ?? "") + "\nebpf-iptables-restore: --xdp-only needs a ruleset ebpf-iptables can read; nothing was applied\n")
            }
            kernelText = SavePrinter.save(XdpOnlyInput.kernelPart(parsed), counters: req.counters)
        }
        let sets: SetsInstall
        do {
            sets = try SetsInstall(fileSets, kernel: beforeSets.sets, kernelText: beforeSets.text, inUse: { self.setInUse($0) })
        } catch {
            return ToolResult(status: 1, stderr: "ebpf-iptables-restore: \(error); nothing was applied\n")
        }
        // The dry run: the kernel's own verdict on the rules, with the sets as they will be
        // (their members were read by our parser, which reads them as ipset does; a member
        // the kernel refuses fails the fill below, before anything is swapped in).
        let dry = kernel.dryRun(req.family, sets: sets.headers,
                                base: req.noflush ? (options.xdpOnly ? nil : dryRunBase(before.text, family: req.family)) : nil,
                                text: kernelText, noflush: req.noflush && !options.xdpOnly)
        guard dry.ok else {
            // The dry run is iptables-restore itself on the same text: its words are the ones
            // iptables-restore prints ("line 2 failed", "COMMIT expected at line 3" ...). Its
            // own problems (101: the sets, 102: the --noflush base) stay ours.
            if req.kernelWords == true, ![101, 102].contains(dry.status), !dry.stderr.hasPrefix("ebpf-iptables") {
                return ToolResult(status: dry.status, stdout: dry.stdout, stderr: dry.stderr)
            }
            let located = ourErrors ?? KernelDiagnostic.locate(stderr: dry.stderr, text: kernelText, source: req.source)
            return ToolResult(status: dry.status, stderr: (located.map { $0 + "\n" } ?? dry.stderr) + "ebpf-iptables-restore: nothing was applied\n")
        }
        if let ourErrors, req.kernelWords != true {
            notes += ourErrors.replacingOccurrences(of: ": error: ", with: ": warning: ") + "\n"
            notes += "ebpf-iptables-restore: the kernel accepts what is flagged above and stores it its own way; XDP is compiled from what the kernel holds\n"
        }
        // The sets the rules will see: the kernel's, with the files' in place.
        var predictedSets = beforeSets.sets ?? IpsetScript()
        for s in fileSets.sets {
            if let i = predictedSets.sets.firstIndex(where: { $0.name == s.name }) { predictedSets.sets[i] = s } else { predictedSets.sets.append(s) }
        }
        if options.xdpOnly, let parsed, let (a, _) = attachment {
            let r = Compiler.compile(parsed, sets: predictedSets.sets.isEmpty ? nil : predictedSets, interface: a.interface, options: options)
            guard r.installable else {
                let why = r.xdpOnlyBlockers.map { "  \($0.detail)\n" }.joined()
                return ToolResult(status: 1, stderr: "ebpf-iptables-restore: --xdp-only: filter INPUT does not compile whole, so XDP cannot decide it alone:\n\(why)nothing was applied\n")
            }
        }
        if req.test { return ToolResult(status: 0, stderr: notes) }
        notes += rejectNotes(parsed, sets: predictedSets, attachment: attachment, options: options)

        let apply: () -> ToolResult = {
            guard !sets.isEmpty else {
                return self.kernel.restore(req.family, kernelText, noflush: req.noflush && !options.xdpOnly, counters: req.counters)
            }
            // Leftovers of a restore killed half-way would make the fill fail.
            for s in beforeSets.sets?.sets ?? [] where SetsInstall.isTemporary(s.name) { _ = self.kernel.ipset(["destroy", s.name], stdin: nil) }
            let filled = self.kernel.ipset(["restore"], stdin: sets.fill)
            guard filled.ok else {
                for t in sets.temporary { _ = self.kernel.ipset(["destroy", t], stdin: nil) }
                return ToolResult(status: filled.status, stdout: filled.stdout,
                                  stderr: sets.inFileNames(filled.stderr) + "ebpf-iptables-restore: the kernel refused the --ipset sets; nothing was applied\n")
            }
            var done: [SetsInstall.Step] = []
            for step in sets.steps {
                for argv in step.commit {
                    let r = self.kernel.ipset(argv, stdin: nil)
                    guard r.ok else {
                        // Undo what went in, newest first; the rest never left its temporary name.
                        for d in done.reversed() { for u in d.rollback { _ = self.kernel.ipset(u, stdin: nil) } }
                        for t in sets.temporary { _ = self.kernel.ipset(["destroy", t], stdin: nil) }
                        return ToolResult(status: r.status, stdout: r.stdout, stderr: r.stderr + "ebpf-iptables-restore: nothing was applied\n")
                    }
                }
                done.append(step)
            }
            let r = self.kernel.restore(req.family, kernelText, noflush: req.noflush && !options.xdpOnly, counters: req.counters)
            // Refused after all (the dry run said yes): the old members go back.
            if !r.ok { for d in done.reversed() { for u in d.rollback { _ = self.kernel.ipset(u, stdin: nil) } } }
            for d in done { for c in d.cleanup { _ = self.kernel.ipset(c, stdin: nil) } }
            for t in sets.temporary where !r.ok { _ = self.kernel.ipset(["destroy", t], stdin: nil) }
            return r
        }
        if req.family == .ipv6 {
            let r = try followingIPv6(always: true, apply)
            return ToolResult(status: r.status, stdout: r.stdout, stderr: notes + r.stderr)
        }
        guard let (a, xdp) = attachment else {
            let r = apply()
            return ToolResult(status: r.status, stdout: r.stdout, stderr: notes + r.stderr)
        }
        let beforeView = KernelView(rulesText: before.text, ruleset: before.ruleset, setsText: beforeSets.text, sets: beforeSets.sets)
        try reconcile(xdp: xdp, attachment: a, options: store.compileOptions, view: beforeView)
        // In --xdp-only mode INPUT is ours: it must be in place before XDP compiles the kernel's view.
        let previousInput = xdpOnly.chain()
        if options.xdpOnly, let parsed, let input = parsed.table("filter")?.chain("INPUT") { try xdpOnly.save(input) } else { xdpOnly.clear() }
        try store.saveCompileOptions(options)
        var predicted: XDPProgram? = nil
        if let parsed {
            let kernelRuleset = options.xdpOnly ? XdpOnlyInput.kernelPart(parsed) : parsed
            let view = KernelView(rulesText: KernelText.normalized(SavePrinter.save(kernelRuleset)), ruleset: kernelRuleset,
                                  setsText: "", sets: predictedSets)
            predicted = program(for: view, interface: a.interface, options: options)
        }
        let (r, after) = try changeBothLayers(xdp: xdp, attachment: a, options: options, before: beforeView, predicted: predicted,
                                              readBack: { try self.readView() },
                                              carry: { after in
                                                  guard let b = beforeView.ruleset, let a = after.ruleset else { return .none }
                                                  return CounterCarry.restore(text: kernelText, noflush: req.noflush && !options.xdpOnly, before: b, after: a)
                                              },
                                              change: apply)
        if !r.ok {
            // Refused after all (the dry run said yes): put our own INPUT copy back as it was.
            if let previousInput { try xdpOnly.save(previousInput) }
        }
        let needsConntrack = options.xdpOnly && program(for: after, interface: a.interface, options: options).tables.needsConntrack
        _ = kernel.keepConntrack(needsConntrack)
        return ToolResult(status: r.status, stdout: r.stdout, stderr: notes + r.stderr)
    }

    /// The running ruleset as the dry run's `--noflush` base. iptables-save prints every
    /// built-in chain of a table, also those iptables-nft does not have (a restore creates
    /// only the chains it names); restoring that text would create them there, and the dry
    /// run would answer `-D INPUT 5` with "Index of deletion too big." where iptables-restore
    /// here says "No chain/target/match by that name." Those chain lines are left out.
    func dryRunBase(_ text: String, family: Family) -> String {
        guard let present = kernel.builtinChains(family) else { return text }
        var table = ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            if line.hasPrefix("*") { table = String(line.dropFirst()) }
            guard line.hasPrefix(":"), let name = line.dropFirst().split(separator: " ").first.map(String.init),
                  BuiltinTables.isBuiltin(name, in: table) else { return true }
            return present.contains(table + "\t" + name)
        }.joined(separator: "\n")
    }

    /// `--reject-as-drop`: each REJECT that XDP drops silently, said once at restore.
    func rejectNotes(_ parsed: Ruleset?, sets: IpsetScript, attachment: (Attachment, XDPLayer)?, options: CompileOptions) -> String {
        guard options.rejectAsDrop, let parsed, let (a, _) = attachment else { return "" }
        let r = Compiler.compile(parsed, sets: sets.sets.isEmpty ? nil : sets, interface: a.interface, options: options)
        return r.report.rules.compactMap { rule in
            guard case .xdp(.rejectAsDrop) = rule.status else { return nil }
            return "\(rule.ref.line.map { "line \($0)" } ?? "\(rule.ref.chain) \(rule.ref.index)"): note: REJECT is dropped in XDP without a reply (--reject-as-drop)\n"
        }.joined()
    }

    /// Whether a kernel set is in use (a rule or a list:set names it): ipset's own count.
    func setInUse(_ name: String) -> Bool {
        let r = kernel.ipset(["list", "-terse", name], stdin: nil)
        guard r.ok, let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("References: ") }),
              let n = Int(line.dropFirst("References: ".count)) else { return true }
        return n > 0
    }
}
