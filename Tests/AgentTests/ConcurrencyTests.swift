import Foundation
import Runtime
import TestSupport
import XCTest

/// N CLI processes × M edits at once, half through the agent and half working alone
/// (`EBPF_IPTABLES_NO_AGENT=1`): the state lock serialises them all, so the kernel ends with
/// every edit (the serial result, each process's own order kept), and XDP and the agent's
/// view agree with the kernel (no drift).
final class ConcurrencyTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
    }

    func testConcurrentEditsThroughTheAgentAndAloneLoseNothing() throws {
        let lab = try AgentLab(prefix: "fwn")
        // Half the processes use the lean client (forwarding itself, or execing the full binary
        // when told to work alone), half the full binary.
        let leanBin = lab.work.appendingPathComponent("lean").path
        try FileManager.default.createDirectory(atPath: leanBin, withIntermediateDirectories: true)
        for name in ["ebpf-iptables", "ebpf-ipset"] {
            try FileManager.default.createSymbolicLink(atPath: leanBin + "/" + name, withDestinationPath: AgentLab.leanClientBinary)
        }
        XCTAssertEqual(lab.ours("ebpf-iptables", ["attach", lab.interface, "--mode", "generic"]).status, 0)
        XCTAssertEqual(lab.oursShell("ebpf-ipset create wl hash:ip && ebpf-iptables -A INPUT -m set --match-set wl src -j ACCEPT").status, 0)
        XCTAssertEqual(try lab.startAgent(), "READY=1", lab.agentLog)
        defer { lab.stopAgent(); lab.closeNotify() }

        let processes = 8, edits = 12
        func member(_ p: Int, _ i: Int) -> String { "198.18.\(10 + p).\(i + 1)" }
        func rule(_ p: Int, _ i: Int) -> String { "-A INPUT -s 198.18.\(30 + p).\(i + 1)/32 -p tcp -m tcp --dport 22 -j DROP" }
        var running: [(Process, Pipe)] = []
        for p in 0..<processes {
            let bin = (p / 2) % 2 == 1 ? leanBin : lab.bin
            var script = "set -e; cd \(lab.work.appendingPathComponent("cwd").path); PATH=\(bin):$PATH; "
            for i in 0..<edits {
                script += "ebpf-ipset add wl \(member(p, i)); "
                script += "ebpf-iptables -A INPUT -s 198.18.\(30 + p).\(i + 1) -p tcp --dport 22 -j DROP; "
            }
            // Every process also takes back its first member: deletions interleave too.
            script += "ebpf-ipset del wl \(member(p, 0))"
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip")
            proc.arguments = ["netns", "exec", lab.ns.name, "sh", "-c", script]
            var e = ProcessInfo.processInfo.environment.merging(lab.env) { $1 }
            if p % 2 == 1 { e["EBPF_IPTABLES_NO_AGENT"] = "1" } else { e.removeValue(forKey: "EBPF_IPTABLES_NO_AGENT") }
            proc.environment = e
            let err = Pipe()
            proc.standardError = err
            proc.standardOutput = FileHandle.nullDevice
            running.append((proc, err))
        }
        for (proc, _) in running { try proc.run() }
        let deadline = Date().addingTimeInterval(240)
        for (proc, err) in running {
            while proc.isRunning && Date() < deadline { usleep(50_000) }
            if proc.isRunning { kill(proc.processIdentifier, SIGKILL) }
            proc.waitUntilExit()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(proc.terminationStatus, 0, text)
            XCTAssertEqual(text, "")
        }

        // The serial result: every member but each process's first, every rule; each process's
        // rules in its own order.
        let members = Set(lab.kernel(["ipset", "save", "wl"]).stdout.split(separator: "\n").filter { $0.hasPrefix("add ") }.map { String($0.split(separator: " ")[2]) })
        var expected = Set<String>()
        for p in 0..<processes { for i in 1..<edits { expected.insert(member(p, i)) } }
        XCTAssertEqual(members, expected)
        let rules = lab.kernel(["iptables", "-S", "INPUT"]).stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(rules.first, "-P INPUT ACCEPT")
        XCTAssertEqual(rules.dropFirst().first, "-A INPUT -m set --match-set wl src -j ACCEPT")
        XCTAssertEqual(rules.count, 2 + processes * edits, rules.joined(separator: "\n"))
        for p in 0..<processes {
            let mine = rules.filter { $0.contains("198.18.\(30 + p).") }
            XCTAssertEqual(mine, (0..<edits).map { rule(p, $0) })
        }
        // The agent served the even processes; the odd ones worked alone.
        let log = lab.agentLog
        XCTAssertTrue(log.contains("request ipset add wl \(member(0, 3)): exit 0"), log)
        XCTAssertFalse(log.contains("request ipset add wl \(member(1, 3))"), log)
        XCTAssertTrue(log.contains("request ipset add wl \(member(2, 3)): exit 0"), log)
        XCTAssertFalse(log.contains("request ipset add wl \(member(3, 3))"), log)

        // No drift: XDP decides every rule of the kernel's INPUT, nothing warns, and the
        // firewall's own copy of the kernel's rules (what XDP was compiled from) is what the
        // kernel holds.
        let status = lab.oursShell("ebpf-iptables status")
        XCTAssertEqual(status.status, 0, status.stderr)
        let total = processes * edits + 1
        XCTAssertTrue(status.stdout.contains("\(total) of \(total) filter INPUT rules decided in XDP"), status.stdout)
        XCTAssertFalse(status.stdout.lowercased().contains("warning"), status.stdout)
        let cached = (try? String(contentsOfFile: lab.stateDir + "/kernel.v4", encoding: .utf8)) ?? ""
        XCTAssertEqual(cached, KernelText.normalized(lab.kernel(["iptables-save"]).stdout), "the firewall's copy of the kernel's rules drifted")
        // The firewall's copy of the sets (the snapshot and the journal of one-member edits
        // since) holds what the kernel's set holds.
        var mirrored = Set<String>()
        for file in ["kernel.ipset", "kernel.ipset.journal"] {
            let text = (try? String(contentsOfFile: lab.stateDir + "/" + file, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let w = line.split(separator: " ")
                guard w.count >= 3, w[1] == "wl" else { continue }
                if w[0] == "add" { mirrored.insert(String(w[2])) } else if w[0] == "del" { mirrored.remove(String(w[2])) }
            }
        }
        XCTAssertEqual(mirrored, members, "the firewall's copy of set wl drifted")
        XCTAssertFalse(lab.events.contains("behind"), lab.events)
        XCTAssertFalse(lab.events.contains("mismatch"), lab.events)
    }
}

extension AgentLab {
    var events: String { (try? String(contentsOfFile: stateDir + "/events.log", encoding: .utf8)) ?? "" }
}
