import Foundation
import TestSupport
import XCTest

/// The Debian package of scripts/package, built from the binary under test (`--binary`):
/// what it holds, then the package installed on this machine for real (`dpkg -i`), its
/// service started as systemd would start it from the installed unit (ExecStart and
/// EnvironmentFile read from the unit file, the unit's capability bounding set, a
/// NOTIFY_SOCKET of ours), removed and purged. PID 1 here is not systemd, so nothing is
/// started by the package itself; the service runs in a network namespace of the test, with
/// its paths moved to a temporary directory through /etc/default/ebpf-iptables, as an
/// operator would move them.
final class PackageTests: XCTestCase {
    /// The .deb, built once for every test of the class.
    nonisolated(unsafe) private static var built: Result<String, Failure>?

    static let names = ["ebpf-iptables-restore", "ebpf-iptables-save", "ebpf-ip6tables",
                        "ebpf-ip6tables-restore", "ebpf-ip6tables-save", "ebpf-ipset"]

    /// The lean client (ebpf-iptables-client), when it is built beside the binary: scripts/package
    /// then puts both binaries in /usr/lib/ebpf-iptables and the names of live edits lead to it.
    /// (Only when Package.swift declares it, as scripts/package decides: a client another branch
    /// left in .build is not this tree's.)
    static var client: String? {
        let path = URL(fileURLWithPath: Run.binary).deletingLastPathComponent().appendingPathComponent("ebpf-iptables-client").path
        let declared = Fixtures.text(Fixtures.packageRoot.appendingPathComponent("Package.swift")).contains("\"ebpf-iptables-client\"")
        return declared && FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// Where the full binary is installed.
    static var installedBinary: String { client == nil ? "/usr/sbin/ebpf-iptables" : "/usr/lib/ebpf-iptables/ebpf-iptables" }

    /// What each name in /usr/sbin links to (nil: the binary itself is there).
    static func link(of name: String) -> String? {
        guard client != nil else { return name == "ebpf-iptables" ? nil : "ebpf-iptables" }
        return ["ebpf-iptables", "ebpf-ipset", "ebpf-ip6tables"].contains(name)
            ? "../lib/ebpf-iptables/ebpf-iptables-client" : "../lib/ebpf-iptables/ebpf-iptables"
    }

    /// Where scripts/package puts the .deb for this run.
    static let output = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-deb-\(getpid())")

    override class func tearDown() {
        try? FileManager.default.removeItem(at: output)
        super.tearDown()
    }

    func deb() throws -> String {
        for tool in ["dpkg-deb", "dpkg-shlibdeps", "python3", "strip"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed: scripts/package needs dpkg-dev, python3, binutils")
        }
        if Self.built == nil {
            // gzip: xz takes a minute over the 50 MB debug binary, and the format is not what is tested.
            let r = Run.run([Fixtures.packageRoot.appendingPathComponent("scripts/package").path, "--binary", Run.binary, "--output", Self.output.path],
                            env: ["DEB_COMPRESS": "gzip"], deadline: .seconds(600))
            let path = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
            Self.built = r.status == 0 && path.hasSuffix(".deb") ? .success(path) : .failure(Failure("scripts/package exited \(r.status): \(r.stderr)"))
        }
        return try XCTUnwrap(Self.built).get()
    }

    // MARK: what the package holds

    func testThePackageHoldsTheToolItsNamesTheUnitManualsCompletionsAndConfig() throws {
        let deb = try deb()
        let entries = try DebEntry.list(deb)
        let byPath = Dictionary(entries.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for e in entries { XCTAssertEqual(e.owner, "root/root", e.path) }

        let tool = try XCTUnwrap(byPath[Self.installedBinary], "the binary")
        XCTAssertEqual(tool.mode, "-rwxr-xr-x")
        if Self.client != nil {
            XCTAssertEqual(byPath["/usr/lib/ebpf-iptables/ebpf-iptables-client"]?.mode, "-rwxr-xr-x", "the lean client")
        }
        for name in ["ebpf-iptables"] + Self.names {
            XCTAssertEqual(byPath["/usr/sbin/" + name]?.link, Self.link(of: name), name)
            XCTAssertNotNil(byPath["/usr/sbin/" + name], name)
        }
        // The kernel's tools keep their names: nothing of ours stands in for them by default.
        for plain in ["iptables", "ip6tables", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore", "ipset"] {
            XCTAssertNil(byPath["/usr/sbin/" + plain], plain)
            XCTAssertNil(byPath["/sbin/" + plain], plain)
        }
        XCTAssertEqual(byPath["/lib/systemd/system/ebpf-iptables.service"]?.mode, "-rw-r--r--")
        XCTAssertEqual(byPath["/etc/default/ebpf-iptables"]?.mode, "-rw-r--r--")
        XCTAssertEqual(byPath["/etc/ebpf-iptables/"]?.mode, "drwxr-x---")
        XCTAssertNotNil(byPath["/usr/share/bash-completion/completions/ebpf-iptables"])
        XCTAssertNotNil(byPath["/usr/share/zsh/vendor-completions/_ebpf-iptables"])
        XCTAssertNotNil(byPath["/usr/share/doc/ebpf-iptables/copyright"])

        // A manual page for the tool and one for each subcommand it declares; the multi-call
        // names' pages lead to what each one runs.
        let help = try dumpHelp(Run.binary)
        let subcommands = help.subcommands.map(\.name)
        XCTAssertTrue(subcommands.contains("serve"), "\(subcommands)")
        XCTAssertNil(byPath["/usr/share/man/man8/ebpf-iptables-help.8.gz"])
        let man = "/usr/share/man/man8/"
        XCTAssertNotNil(byPath[man + "ebpf-iptables.8.gz"])
        for s in subcommands { XCTAssertNotNil(byPath[man + "ebpf-iptables-\(s).8.gz"], s) }
        XCTAssertEqual(byPath[man + "ebpf-ip6tables.8.gz"]?.link, "ebpf-iptables.8.gz")
        XCTAssertEqual(byPath[man + "ebpf-ip6tables-restore.8.gz"]?.link, "ebpf-iptables-restore.8.gz")
        XCTAssertEqual(byPath[man + "ebpf-ip6tables-save.8.gz"]?.link, "ebpf-iptables-save.8.gz")
        XCTAssertEqual(byPath[man + "ebpf-ipset.8.gz"]?.link, "ebpf-iptables-ipset.8.gz")

        // The control fields: version as the binary says, this machine's architecture, and
        // Depends naming the package of every library the binary links directly (as dpkg
        // knows them) and the kernel's tools it runs.
        let fields = Run.run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"]).stdout
        let field = { (k: String) in fields.split(separator: "\n").first { $0.hasPrefix(k + ": ") }.map { String($0.dropFirst(k.count + 2)) } ?? "" }
        XCTAssertEqual(field("Package"), "ebpf-iptables")
        XCTAssertEqual(field("Version"), Run.run([Run.binary, "--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(field("Architecture"), Run.run(["dpkg", "--print-architecture"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let depends = Set(field("Depends").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? "" })
        for p in ["iptables", "ipset", "nftables", "iproute2"] { XCTAssertTrue(depends.contains(p), "Depends lacks \(p): \(depends)") }
        let linked = Self.packagesOfLinkedLibraries(Run.binary).union(Self.client.map(Self.packagesOfLinkedLibraries) ?? [])
        XCTAssertTrue(linked.contains("libbpf1"), "ldd: \(linked)")
        for p in linked { XCTAssertTrue(depends.contains(p), "the binary links a library of \(p); Depends: \(depends.sorted())") }

        let control = try temporaryDirectory("ctrl")
        XCTAssertEqual(Run.run(["dpkg-deb", "-e", deb, control.path]).status, 0)
        XCTAssertEqual(Fixtures.text(control.appendingPathComponent("conffiles")), "/etc/default/ebpf-iptables\n")
        for script in ["postinst", "prerm", "postrm"] {
            let path = control.appendingPathComponent(script).path
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: path), script)
            let syntax = Run.run(["sh", "-n", path])
            XCTAssertEqual(syntax.status, 0, "\(script): \(syntax.stderr)")
        }
        let regular = entries.filter { $0.mode.hasPrefix("-") }.count
        XCTAssertEqual(Fixtures.text(control.appendingPathComponent("md5sums")).split(separator: "\n").count, regular)

        let root = try temporaryDirectory("root")
        XCTAssertEqual(Run.run(["dpkg-deb", "-x", deb, root.path]).status, 0)
        try checkManualPages(root.appendingPathComponent("usr/share/man/man8"), help: help)
        try checkCompletions(root.appendingPathComponent("usr/share"), subcommands: subcommands)

        // The unit as systemd reads it; the binary it names is the one just unpacked.
        if Run.has("systemd-analyze") {
            let unit = root.appendingPathComponent("lib/systemd/system/ebpf-iptables.service").path
            let unitText = Fixtures.text(URL(fileURLWithPath: unit))
            XCTAssertTrue(unitText.contains("ExecStart=/usr/sbin/ebpf-iptables serve"), unitText)
            let copy = root.appendingPathComponent("ebpf-iptables.service").path
            try unitText.replacingOccurrences(of: "/usr/sbin/ebpf-iptables", with: root.path + Self.installedBinary)
                .replacingOccurrences(of: "Documentation=", with: "#Documentation=")
                .write(toFile: copy, atomically: true, encoding: .utf8)
            let v = Run.run(["systemd-analyze", "verify", copy], deadline: .seconds(60))
            XCTAssertEqual(v.status, 0, v.stderr)
            XCTAssertFalse(v.stderr.contains("ebpf-iptables.service"), v.stderr)
        }
    }

    /// Every page renders without a warning from groff; the tool's page names every
    /// subcommand, and each subcommand's page every option it declares.
    func checkManualPages(_ dir: URL, help: HelpCommand) throws {
        guard Run.has("groff") else { return }
        func render(_ page: String) -> String {
            let path = dir.appendingPathComponent(page + ".8.gz").path
            let r = Run.run(["sh", "-c", "zcat \"$0\" | groff -man -Tascii -ww -rLL=2000n -P-c -P-b -P-u", path])
            XCTAssertEqual(r.status, 0, page)
            XCTAssertEqual(r.stderr, "", "groff warns about \(page)")
            return r.stdout
        }
        let main = render("ebpf-iptables")
        XCTAssertTrue(main.contains("ebpf-iptables - " + help.abstract), String(main.prefix(400)))
        for s in help.subcommands {
            XCTAssertTrue(main.contains(s.name), "ebpf-iptables(8) lacks \(s.name)")
            let page = render("ebpf-iptables-" + s.name)
            XCTAssertTrue(page.contains("ebpf-iptables-\(s.name) - " + s.abstract), String(page.prefix(400)))
            for o in s.longOptions { XCTAssertTrue(page.contains(o), "ebpf-iptables-\(s.name)(8) lacks \(o)") }
        }
        for name in Self.names {
            XCTAssertTrue(main.contains(name), "ebpf-iptables(8) does not mention \(name)")
        }
    }

    /// bash: the script parses and completes the subcommands; zsh: a #compdef for the tool.
    func checkCompletions(_ share: URL, subcommands: [String]) throws {
        let bash = share.appendingPathComponent("bash-completion/completions/ebpf-iptables").path
        XCTAssertEqual(Run.run(["bash", "-n", bash]).status, 0)
        let script = Fixtures.text(URL(fileURLWithPath: bash))
        let complete = try XCTUnwrap(script.split(separator: "\n").first { $0.hasPrefix("complete ") }, "no `complete` line")
        let function = try XCTUnwrap(complete.split(separator: " ").drop { $0 != "-F" }.dropFirst().first, String(complete))
        let words = Run.run(["bash", "-c", """
            source "$0"
            COMP_WORDS=(ebpf-iptables ""); COMP_CWORD=1; COMP_LINE="ebpf-iptables "; COMP_POINT=${#COMP_LINE}
            \(function) ebpf-iptables "" ebpf-iptables
            printf '%s\\n' "${COMPREPLY[@]}"
            """, bash])
        let offered = Set(words.stdout.split(separator: "\n").map(String.init))
        for s in subcommands { XCTAssertTrue(offered.contains(s), "bash completion does not offer \(s): \(offered.sorted()) \(words.stderr)") }
        let zsh = Fixtures.text(share.appendingPathComponent("zsh/vendor-completions/_ebpf-iptables"))
        XCTAssertTrue(zsh.hasPrefix("#compdef ebpf-iptables"), String(zsh.prefix(80)))
        if Run.has("zsh") { XCTAssertEqual(Run.run(["zsh", "-n", share.appendingPathComponent("zsh/vendor-completions/_ebpf-iptables").path]).status, 0) }
    }

    // MARK: installed, started, removed

    func testInstalledServiceStartsAndRemovalLeavesNothingPinnedOrAttached() throws {
        if let reason = NetworkNamespace.unavailableReason { throw XCTSkip(reason) }
        guard Run.has("dpkg"), Run.has("setpriv") else { throw XCTSkip("not a Debian system (dpkg, setpriv)") }
        // Never replace a real installation: the test installs and purges the package.
        let installedBefore = Run.run(["dpkg-query", "-W", "-f", "${Status}", "ebpf-iptables"])
        if installedBefore.status == 0, !installedBefore.stdout.contains("not-installed") {
            throw XCTSkip("ebpf-iptables is installed on this machine (\(installedBefore.stdout)); the test would remove it")
        }
        for path in ["/etc/default/ebpf-iptables", "/etc/ebpf-iptables", "/var/lib/ebpf-iptables", "/sys/fs/bpf/ebpf-iptables"]
        where FileManager.default.fileExists(atPath: path) {
            throw XCTSkip("\(path) exists on this machine; the test installs and purges the package and would take it")
        }
        let deb = try deb()

        let ns = try NetworkNamespace(prefix: "pkg")
        let work = try temporaryDirectory(ns.name)
        let bpffs = work.appendingPathComponent("bpffs")
        let paths = ["EBPF_IPTABLES_STATE": work.appendingPathComponent("state").path,
                     "EBPF_IPTABLES_CONFIG": work.appendingPathComponent("config").path,
                     "EBPF_IPTABLES_BPFFS": bpffs.appendingPathComponent("ebpf-iptables").path]
        try FileManager.default.createDirectory(at: bpffs, withIntermediateDirectories: true)
        // `ip netns exec` hides the host's /sys/fs/bpf: the pins live on a bpffs of our own.
        XCTAssertEqual(Run.run(["mount", "-t", "bpf", "bpf", bpffs.path]).status, 0)
        let veth = "pk\(getpid())a", peer = "pk\(getpid())b"
        for cmd in [["ip", "-n", ns.name, "link", "add", veth, "type", "veth", "peer", "name", peer],
                    ["ip", "-n", ns.name, "link", "set", veth, "up"], ["ip", "-n", ns.name, "link", "set", peer, "up"]] {
            let r = Run.run(cmd)
            XCTAssertEqual(r.status, 0, "\(cmd): \(r.stderr)")
        }
        let kernelsOwn = Self.files(under: bpffs)
        var agent: ServiceProcess?
        addTeardownBlock {
            agent?.forceStop()
            if Self.packageStatus().hasPrefix("install ok") || Self.packageStatus().contains("config-files") {
                _ = Self.dpkg(["--purge", "ebpf-iptables"], in: ns)
            }
            Run.run(["umount", bpffs.path])
            try? FileManager.default.removeItem(at: work)
            // XCTest keeps this block (and so `ns`) until the process ends: delete it here.
            Run.run(["ip", "netns", "del", ns.name])
        }

        // Install.
        let install = Self.dpkg(["-i", deb], in: nil)
        XCTAssertEqual(install.status, 0, install.stderr)
        XCTAssertEqual(Self.packageStatus(), "install ok installed")
        let listed = Run.run(["dpkg", "-L", "ebpf-iptables"]).stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(listed.contains(Self.installedBinary), "\(listed)")
        for path in listed { XCTAssertTrue(Self.exists(path), "dpkg -L lists \(path), which is not there") }
        for name in ["ebpf-iptables"] + Self.names {
            XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: "/usr/sbin/" + name), Self.link(of: name), name)
        }
        let version = Run.run(["/usr/sbin/ebpf-iptables", "--version"])
        XCTAssertEqual(version.status, 0, version.stderr)
        if Run.has("deb-systemd-helper") {
            // Enabled as dh_installsystemd enables, although systemd does not run here.
            XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: Self.wantsLink), "/lib/systemd/system/ebpf-iptables.service")
        }
        if Run.has("systemd-analyze") {
            let v = Run.run(["systemd-analyze", "verify", "/lib/systemd/system/ebpf-iptables.service"], deadline: .seconds(60))
            XCTAssertEqual(v.status, 0, v.stderr)
        }

        // The operator's part: the paths moved in /etc/default/ebpf-iptables (read by the unit
        // and by the maintainer scripts), and a saved ruleset in the default place.
        let defaults = "/etc/default/ebpf-iptables"
        var text = Fixtures.text(URL(fileURLWithPath: defaults))
        for (k, v) in paths.sorted(by: { $0.key < $1.key }) { text += "\(k)=\"\(v)\"\n" }
        // serve's options as the operator gives them: split into words by systemd ($VAR unbraced).
        let socket = paths["EBPF_IPTABLES_STATE", default: ""] + "/agent.sock"
        text += "EBPF_IPTABLES_SERVE_ARGS=\"--socket \(socket)\"\n"
        try text.write(toFile: defaults, atomically: true, encoding: .utf8)
        let savedRuleset = "/etc/ebpf-iptables/rules.v4"
        try "# PackageTests: stays on remove, goes on purge\n".write(toFile: savedRuleset, atomically: true, encoding: .utf8)

        // Start it as systemd would.
        let unit = try SystemdUnit(file: "/lib/systemd/system/ebpf-iptables.service")
        XCTAssertEqual(unit.service["Type"], ["notify"])
        let environmentFiles = unit.service["EnvironmentFile"] ?? []
        XCTAssertEqual(environmentFiles, ["-" + defaults])
        var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
        for f in environmentFiles { environment.merge(try SystemdUnit.environmentFile(f), uniquingKeysWith: { _, new in new }) }
        for (k, v) in paths { XCTAssertEqual(environment[k], v, "\(k) from \(defaults)") }
        let execStart = try XCTUnwrap(unit.service["ExecStart"]?.last)
        let argv = SystemdUnit.expand(execStart, environment: environment)
        XCTAssertEqual(argv, ["/usr/sbin/ebpf-iptables", "serve", "--socket", socket])
        let bounding = (unit.service["CapabilityBoundingSet"] ?? []).flatMap { $0.split(separator: " ") }
            .map { "+" + $0.lowercased().replacingOccurrences(of: "cap_", with: "") }
        XCTAssertTrue(bounding.contains("+bpf") && bounding.contains("+net_admin"), "\(bounding)")
        let notify = try NotifySocket(path: work.appendingPathComponent("notify").path)
        environment["NOTIFY_SOCKET"] = notify.path
        let log = work.appendingPathComponent("serve.log")
        var launcher = ["ip", "netns", "exec", ns.name, "setpriv", "--bounding-set=-all," + bounding.joined(separator: ",")]
        if unit.service["NoNewPrivileges"] == ["yes"] { launcher.append("--no-new-privs") }
        // systemd's working directory and the unit's UMask; each step execs, so the pid we
        // signal is the service's main process, as systemd's is.
        let umask = unit.service["UMask"]?.last ?? "0022"
        launcher += ["sh", "-c", "cd / && umask \(umask) && exec \"$@\"", "sh"]
        agent = try ServiceProcess(argv: launcher + argv, environment: environment, log: log)

        // Ready: READY=1 once serve sends it; the control socket answers by then.
        // TODO(merge): the sd_notify and control-socket work lands in another branch; until it
        // is here, `serve` neither notifies nor listens, and its "serving" log line stands in.
        // Both checks switch on by themselves when the sources have them; delete the stand-in
        // once they are merged.
        let sources = Fixtures.packageRoot.appendingPathComponent("Sources").path
        let servesNotify = Run.run(["grep", "-rqF", "NOTIFY_SOCKET", sources]).status == 0
        let servesSocket = Run.run(["grep", "-rqF", "ControlSocket(", sources + "/ebpf-iptables"]).status == 0
        let deadline = ContinuousClock.now + .seconds(60)
        var ready = false, messages: [String] = []
        while !ready, ContinuousClock.now < deadline, agent?.running == true {
            if let m = notify.receive(timeout: .milliseconds(200)) { messages.append(m) }
            ready = servesNotify ? messages.contains { $0.split(separator: "\n").contains("READY=1") }
                                 : Fixtures.text(log).contains("serving")
        }
        XCTAssertTrue(ready, "not ready within 60 s (READY=1 expected: \(servesNotify)); notifications \(messages); log:\n\(Fixtures.text(log))")
        guard ready, agent?.running == true else { return }
        if servesSocket { XCTAssertTrue(Self.exists(paths["EBPF_IPTABLES_STATE", default: ""] + "/agent.sock"), "control socket") }

        // The installed tools under their installed names, inside the namespace, on the
        // service's paths: attach, a set, a ruleset.
        func ours(_ argv: [String], stdin: String? = nil) -> RunResult {
            Run.run(["ip", "netns", "exec", ns.name] + argv, stdin: stdin, env: paths, deadline: .seconds(120))
        }
        let attach = ours(["/usr/sbin/ebpf-iptables", "attach", veth, "--mode", "native"])
        XCTAssertEqual(attach.status, 0, attach.stderr)
        XCTAssertEqual(ours(["/usr/sbin/ebpf-ipset", "create", "pkgset", "hash:ip"]).status, 0)
        XCTAssertEqual(ours(["/usr/sbin/ebpf-ipset", "add", "pkgset", "198.18.7.7"]).status, 0)
        let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m set --match-set pkgset src -j DROP\n-A INPUT -s 198.18.9.9/32 -j DROP\nCOMMIT\n"
        let restore = ours(["/usr/sbin/ebpf-iptables-restore"], stdin: rules)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertTrue(ours(["/usr/sbin/ebpf-iptables-save"]).stdout.contains("-A INPUT -s 198.18.9.9/32 -j DROP"))
        XCTAssertEqual(ours(["/usr/sbin/ebpf-ip6tables-save"]).status, 0)
        XCTAssertTrue(ns.run(["iptables-save"]).stdout.contains("-A INPUT -s 198.18.9.9/32 -j DROP"), "the kernel layer")
        XCTAssertTrue(xdpAttached(ns, veth), "XDP on \(veth) after attach")
        XCTAssertNotEqual(Self.files(under: bpffs), kernelsOwn, "pins after attach")
        XCTAssertTrue(agent?.running == true, "the service died:\n\(Fixtures.text(log))")

        // Stop as systemd stops it (SIGTERM): the firewall stays, attached and pinned.
        let stopped = agent?.terminate(within: .seconds(15)) ?? false
        XCTAssertTrue(stopped, "still running 15 s after SIGTERM:\n\(Fixtures.text(log))")
        if servesNotify {
            while let m = notify.receive(timeout: .milliseconds(200)) { messages.append(m) }
            XCTAssertTrue(messages.contains { $0.split(separator: "\n").contains("STOPPING=1") }, "\(messages)")
        }
        if servesSocket { XCTAssertFalse(Self.exists(paths["EBPF_IPTABLES_STATE", default: ""] + "/agent.sock"), "control socket left") }
        XCTAssertTrue(xdpAttached(ns, veth), "stopping the agent must not drop the firewall")

        // Remove: nothing attached or pinned is left; the kernel's iptables keeps the ruleset
        // (as when netfilter-persistent goes); the configuration stays until purge.
        let remove = Self.dpkg(["-r", "ebpf-iptables"], in: ns)
        XCTAssertEqual(remove.status, 0, remove.stderr)
        XCTAssertEqual(Self.packageStatus(), "deinstall ok config-files")
        XCTAssertFalse(xdpAttached(ns, veth), "XDP still on \(veth) after remove: \(ns.run(["ip", "-d", "link", "show", veth]).stdout)")
        XCTAssertEqual(Self.files(under: bpffs), kernelsOwn, "pins left after remove")
        XCTAssertFalse(Self.exists(paths["EBPF_IPTABLES_BPFFS", default: ""]), "the pin root is left after remove")
        XCTAssertFalse(ns.run(["nft", "list", "tables"]).stdout.contains("ebpf_iptables"), "our nft table (conntrack for XDP, when a ruleset needs it) left")
        XCTAssertTrue(ns.run(["iptables-save"]).stdout.contains("-A INPUT -s 198.18.9.9/32 -j DROP"), "the kernel layer keeps the ruleset")
        XCTAssertFalse(Self.exists(paths["EBPF_IPTABLES_STATE", default: ""] + "/attachment.json"), "attachment.json left after remove")
        for path in listed where !Self.isDirectory(path) && path != defaults {
            XCTAssertFalse(Self.exists(path), "\(path) left after remove")
        }
        XCTAssertTrue(Self.exists(defaults), "conffiles stay on remove")
        XCTAssertTrue(Self.exists(savedRuleset), "the saved ruleset stays on remove")

        // Purge: nothing of the package is left.
        let purge = Self.dpkg(["--purge", "ebpf-iptables"], in: ns)
        XCTAssertEqual(purge.status, 0, purge.stderr)
        XCTAssertNotEqual(Run.run(["dpkg", "-L", "ebpf-iptables"]).status, 0, "dpkg still lists the package")
        XCTAssertNotEqual(Self.packageStatus(), "deinstall ok config-files")
        for path in [defaults, "/etc/ebpf-iptables", "/var/lib/ebpf-iptables", Self.wantsLink, "/etc/systemd/system/ebpf-iptables.service",
                     "/var/lib/systemd/deb-systemd-helper-enabled/ebpf-iptables.service.dsh-also",
                     "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/ebpf-iptables.service",
                     "/var/lib/systemd/deb-systemd-helper-masked/ebpf-iptables.service"] {
            XCTAssertFalse(Self.exists(path), "\(path) left after purge")
        }
        for path in listed where !Self.isDirectory(path) { XCTAssertFalse(Self.exists(path), "\(path) left after purge") }
        XCTAssertEqual(Self.files(under: bpffs), kernelsOwn, "pins left after purge")
    }

    // MARK: helpers

    static let wantsLink = "/etc/systemd/system/multi-user.target.wants/ebpf-iptables.service"

    static func packageStatus() -> String {
        Run.run(["dpkg-query", "-W", "-f", "${Status}", "ebpf-iptables"]).stdout
    }

    /// dpkg, in the namespace when given (so that prerm's detach finds the veth), retried
    /// while another dpkg or apt holds the lock (other work on the machine), for at most 2 min.
    static func dpkg(_ args: [String], in ns: NetworkNamespace?) -> RunResult {
        let argv = (ns.map { ["ip", "netns", "exec", $0.name] } ?? []) + ["dpkg"] + args
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let r = Run.run(argv, env: ["DEBIAN_FRONTEND": "noninteractive"], deadline: .seconds(300))
            guard r.status != 0, r.stderr.contains("lock"), ContinuousClock.now < deadline else { return r }
            Thread.sleep(forTimeInterval: 2)
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// A directory, or a link to one (/lib on a merged /usr): dpkg lists it, shares it, keeps it.
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Every non-directory under `dir` (pins are files on bpffs; a fresh mount may already
    /// hold the kernel's own maps.debug and progs.debug, which the test takes as its baseline).
    static func files(under dir: URL) -> [String] {
        let r = Run.run(["find", dir.path, "-mindepth", "1", "!", "-type", "d"])
        return r.stdout.split(separator: "\n").map(String.init).sorted()
    }

    func xdpAttached(_ ns: NetworkNamespace, _ interface: String) -> Bool {
        let out = ns.run(["ip", "-d", "link", "show", interface]).stdout
        return out.contains("prog/xdp") || out.contains(" xdp")
    }

    /// The packages holding the libraries the binary names directly (NEEDED), as dpkg knows
    /// them; a library no package holds (the Swift toolchain's, for a debug build) is left out.
    static func packagesOfLinkedLibraries(_ binary: String) -> Set<String> {
        let needed = Run.run(["sh", "-c", "readelf -d \"$0\" | sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p'", binary]).stdout
            .split(separator: "\n").map(String.init)
        let resolved = Run.run(["ldd", binary]).stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count >= 3, parts[1] == "=>" else { return nil }
            return (parts[0].trimmingCharacters(in: .whitespaces), parts[2])
        }
        var packages = Set<String>()
        for (name, path) in resolved where needed.contains(name) {
            let real = Run.run(["realpath", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for candidate in [real, path] {
                let r = Run.run(["dpkg", "-S", candidate])
                if r.status == 0, let owner = r.stdout.split(separator: ":").first {
                    packages.insert(String(owner)); break
                }
            }
        }
        return packages
    }

    func temporaryDirectory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-pkg-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// What `--experimental-dump-help` declares: the subcommands with their abstracts and long options.
    struct HelpCommand {
        var name: String
        var abstract: String
        var longOptions: [String]
        var subcommands: [HelpCommand]
    }

    func dumpHelp(_ binary: String) throws -> HelpCommand {
        let r = Run.run([binary, "--experimental-dump-help"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        func command(_ c: [String: Any]) -> HelpCommand {
            let args = c["arguments"] as? [[String: Any]] ?? []
            var longs: [String] = []
            for a in args where (a["shouldDisplay"] as? Bool) != false {
                for n in a["names"] as? [[String: Any]] ?? [] {
                    guard n["kind"] as? String == "long", let name = n["name"] as? String, name != "help", name != "version" else { continue }
                    longs.append("--" + name)
                }
            }
            // `help` is the parser's own subcommand: no page of its own.
            let subs = (c["subcommands"] as? [[String: Any]] ?? []).filter {
                ($0["shouldDisplay"] as? Bool) != false && $0["commandName"] as? String != "help"
            }.map(command)
            return HelpCommand(name: c["commandName"] as? String ?? "", abstract: c["abstract"] as? String ?? "",
                               longOptions: longs, subcommands: subs)
        }
        return command(try XCTUnwrap(json["command"] as? [String: Any]))
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

/// One line of `dpkg-deb -c`: mode, owner, path (absolute, directories ending in /), link target.
struct DebEntry {
    var mode: String
    var owner: String
    var path: String
    var link: String?

    static func list(_ deb: String) throws -> [DebEntry] {
        let r = Run.run(["dpkg-deb", "-c", deb])
        guard r.status == 0 else { throw PackageTests.Failure("dpkg-deb -c: \(r.stderr)") }
        return r.stdout.split(separator: "\n").compactMap { line in
            // drwxr-xr-x root/root         0 2026-12-07 02:24 ./etc/
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { return nil }
            var rest = String(fields[5])
            var link: String?
            if let arrow = rest.range(of: " -> ") {
                link = String(rest[arrow.upperBound...])
                rest = String(rest[..<arrow.lowerBound])
            }
            if rest.hasPrefix(".") { rest.removeFirst() }
            return DebEntry(mode: String(fields[0]), owner: String(fields[1]), path: rest, link: link)
        }
    }
}

/// A unit file read as systemd reads the parts the test needs: sections of `Key=value`
/// (a key may repeat), `EnvironmentFile=`, and `ExecStart=` with `$VAR` and `${VAR}`.
struct SystemdUnit {
    var sections: [String: [String: [String]]] = [:]
    var service: [String: [String]] { sections["Service"] ?? [:] }

    init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw PackageTests.Failure("cannot read \(file)") }
        var section = ""
        for raw in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: [:]][key, default: []].append(value)
        }
    }

    /// `KEY=value` lines of an environment file; a leading '-' makes a missing file empty.
    static func environmentFile(_ spec: String) throws -> [String: String] {
        let optional = spec.hasPrefix("-")
        let path = optional ? String(spec.dropFirst()) : spec
        guard let data = FileManager.default.contents(atPath: path) else {
            if optional { return [:] }
            throw PackageTests.Failure("EnvironmentFile \(path) is missing")
        }
        var env: [String: String] = [:]
        for raw in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            env[line[..<eq].trimmingCharacters(in: .whitespaces)] = value
        }
        return env
    }

    /// systemd's expansion of a command line: `$VAR` alone is split on whitespace into words
    /// (none when empty), `${VAR}` is one word; the prefixes -@:+! are dropped.
    static func expand(_ command: String, environment: [String: String]) -> [String] {
        var words: [String] = []
        for (i, token) in command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init).enumerated() {
            var t = token
            if i == 0 { while let c = t.first, "-@:+!".contains(c) { t.removeFirst() } }
            if t.hasPrefix("$"), !t.hasPrefix("${"), t.dropFirst().allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                words += (environment[String(t.dropFirst())] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                continue
            }
            while let open = t.range(of: "${"), let close = t[open.upperBound...].firstIndex(of: "}") {
                t.replaceSubrange(open.lowerBound...close, with: environment[String(t[open.upperBound..<close])] ?? "")
            }
            words.append(t)
        }
        return words
    }
}

/// The socket systemd hands a Type=notify service in NOTIFY_SOCKET: datagrams of
/// newline-separated assignments (READY=1, STOPPING=1).
final class NotifySocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PackageTests.Failure("socket: errno \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw PackageTests.Failure("\(path): too long for a socket") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { close(fd); throw PackageTests.Failure("bind \(path): errno \(errno)") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next datagram, or nil when none comes within `timeout`.
    func receive(timeout: Duration) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&p, 1, ms) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }
}

/// The service's main process, started with exactly the environment given (as systemd
/// starts it), its output in a log file.
final class ServiceProcess {
    private let process = Process()

    init(argv: [String], environment: [String: String], log: URL) throws {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let out = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["-i"] + environment.map { "\($0.key)=\($0.value)" }.sorted() + argv
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = out
        try process.run()
    }

    var running: Bool { process.isRunning }

    /// SIGTERM, then up to `within` for the process to end; SIGKILL after. True when it ended
    /// on SIGTERM.
    func terminate(within: Duration) -> Bool {
        guard process.isRunning else { return true }
        Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + within
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { forceStop(); return false }
        return true
    }

    func forceStop() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }
}
