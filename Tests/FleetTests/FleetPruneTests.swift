import Foundation
import TestSupport
import XCTest

/// `ebpf-iptables db prune`: old rows of the change log deleted. A node that had applied
/// everything pruned goes on by seq; a node that was stopped while changes it had not applied
/// were pruned resynchronises from a snapshot when it comes back (never misses a change),
/// counts it in /metrics (`ebpf_iptables_fleet_resyncs_total`), and ends with exactly the
/// database's members (its kernel's `ipset save` against `fleet_members`).
final class FleetPruneTests: XCTestCase {
    var server: PostgresServer!
    var lab: FleetLab!

    override func setUpWithError() throws {
        if let why = PostgresServer.unavailableReason ?? NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("openssl") || !Run.has("curl") { throw XCTSkip("openssl and curl are needed (scripts/setup installs them)") }
        server = try PostgresServer(tag: "prune")
        lab = try FleetLab(server: server, nodeCount: 1)
    }

    override func tearDown() {
        lab?.close()
        lab = nil
        server = nil
        super.tearDown()
    }

    func sql(_ text: String) throws -> String { try server.psql(text, db: lab.database) }

    func dbMembers() throws -> Set<String> {
        Set(try sql("select element from fleet_members where set_name = 'peers'").split(separator: "\n").map(String.init))
    }

    func dbMaxSeq() throws -> Int64 {
        Int64(try sql("select coalesce(max(seq), 0) from fleet_changes").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    func prune(_ args: [String]) -> RunResult {
        Run.run([Run.binary, "db", "prune", "--database", lab.adminURL] + args, env: ["EBPF_IPTABLES_NO_AGENT": "1"], deadline: .seconds(60))
    }

    func assertNodeMatches(_ n: FleetLab.Node, _ label: String) throws {
        let target = try dbMaxSeq()
        let until = Date().addingTimeInterval(30)
        while n.appliedSeq() < target && Date() < until { usleep(50_000) }
        XCTAssertEqual(n.appliedSeq(), target, "\(label): applied seq; log tail:\n\(n.logText().suffix(2000))")
        let want = try dbMembers(), have = n.kernelMembers("peers")
        XCTAssertEqual(have.count, want.count, "\(label): member count")
        XCTAssertTrue(have == want, "\(label): missing \(want.subtracting(have).sorted().prefix(10)), extra \(have.subtracting(want).sorted().prefix(10))")
        let applied = n.journalApplied()
        XCTAssertEqual(applied.count, Set(applied).count, "\(label): a change applied twice")
        XCTAssertFalse(n.logText().contains("applied a second time"), label)
    }

    func testANodeBehindThePruneResynchronises() throws {
        let started = Date()
        let s = server!, lab = lab!, node = lab.nodes[0]
        try s.createDatabase(lab.database)
        let r = Run.run([Run.binary, "db", "init", "--database", lab.adminURL], env: ["EBPF_IPTABLES_NO_AGENT": "1"], deadline: .seconds(60))
        XCTAssertEqual(r.status, 0, r.stderr)
        try s.psql("create role node1 login superuser;")
        _ = try sql("select fleet_create('peers', 'hash:ip'); select fleet_add('peers', '198.18.100.' || i) from generate_series(1, 10) i;")

        // Bad invocations: exit 64 (usage), nothing deleted.
        for bad in [[], ["--keep-seconds", "5", "--before-seq", "3"], ["--keep-seconds", "-1"]] {
            let b = prune(bad)
            XCTAssertEqual(b.status, 64, "db prune \(bad): \(b.stderr)")
        }
        XCTAssertEqual(try sql("select count(*) from fleet_changes"), "11\n")

        try lab.prepare(node)
        try lab.startServe(node, listen: true)
        XCTAssertTrue(lab.waitForLog(node, "fleet: loaded 1 set(s), 10 member(s)"), node.logText())
        try assertNodeMatches(node, "first load")

        // Keep the last hour: nothing goes. Keep nothing: everything goes, and the node, which
        // had applied all of it, goes on by seq.
        var p = prune(["--keep-seconds", "3600"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertEqual(p.stdout, "database fleet: deleted 0 change(s); no change below seq 1 is kept\n")
        p = prune(["--keep-seconds", "0"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertEqual(p.stdout, "database fleet: deleted 11 change(s); no change below seq 12 is kept\n")
        XCTAssertEqual(try sql("select count(*) from fleet_changes"), "0\n")
        _ = try sql("select fleet_add('peers', '198.18.100.11')")
        try assertNodeMatches(node, "after pruning what the node had applied")
        XCTAssertEqual(lab.metrics(node)["ebpf_iptables_fleet_resyncs_total"], 0)
        XCTAssertFalse(node.logText().contains("resynchronising"), node.logText())

        // The node stopped; 40 changes; all but the last 10 pruned; 5 more changes.
        lab.killServe(node)
        let stoppedAt = node.appliedSeq()
        XCTAssertEqual(stoppedAt, try dbMaxSeq())
        _ = try sql("""
            select fleet_add('peers', '198.18.101.' || i) from generate_series(1, 30) i;
            select fleet_del('peers', '198.18.100.' || i) from generate_series(1, 5) i;
            select fleet_del('peers', '198.18.101.' || i) from generate_series(1, 5) i;
            """)
        let cut = try dbMaxSeq() - 9
        p = prune(["--before-seq", String(cut)])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertEqual(p.stdout, "database fleet: deleted 31 change(s); no change below seq \(cut) is kept; 1 node(s) had applied less and will resynchronise from a snapshot: node1\n")
        _ = try sql("select fleet_add('peers', '198.18.102.' || i) from generate_series(1, 5) i; select fleet_del('peers', '198.18.100.6');")
        // A member only the node's kernel has (added while it was stopped): the snapshot's
        // difference removes it.
        XCTAssertEqual(node.ours(["add", "peers", "198.18.98.1"], tool: "ebpf-ipset").status, 0)

        let from = node.logText().utf8.count
        try lab.startServe(node, listen: true)
        XCTAssertTrue(lab.waitForLog(node, "were pruned from the change log before this node applied them; resynchronising from a snapshot", from: from, seconds: 30), node.logText())
        XCTAssertTrue(node.logText().contains("fleet: changes \(stoppedAt + 1) to \(cut - 1) were pruned"), node.logText())
        try assertNodeMatches(node, "restarted after the prune")
        XCTAssertEqual(try dbMembers().count, 10 + 1 + 30 - 10 + 5 - 1)
        let m = lab.metrics(node)
        XCTAssertEqual(m["ebpf_iptables_fleet_resyncs_total"], 1, "\(m)")
        XCTAssertEqual(m["ebpf_iptables_fleet_applied_seq"], Double(try dbMaxSeq()))
        // Then by seq again: one more change, no second resync.
        _ = try sql("select fleet_add('peers', '198.18.103.1')")
        try assertNodeMatches(node, "after the resync")
        XCTAssertEqual(lab.metrics(node)["ebpf_iptables_fleet_resyncs_total"], 1)
        print("fleet: prune test took \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}
