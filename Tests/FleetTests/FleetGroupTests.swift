import Foundation
import TestSupport
import XCTest

/// `serve --database URL --group NAME`: a node follows only the sets its node group uses
/// (`group_sets`), live. Two nodes (each in its own namespace, the FleetLab's, with its own
/// local set `peers` and the ruleset using it, XDP attached): node 1 in group `a` (set
/// `peers`), node 2 in group `b` (set `blocklist`); a third set `extra` is in no group.
/// Checked by each node's kernel (`ipset save`) against `fleet_members`, set by set, exactly:
/// - the first load brings each node its group's sets only (node 2's own `peers` untouched);
/// - changes to group a's set reach node 1 and never node 2, and the other way round;
/// - a set given to group b while node 2 runs is loaded whole, then followed;
/// - a set taken from group b stays on node 2 as it was (rules may use it), no longer followed;
/// - node 2 killed, a followed set destroyed and one given to its group meanwhile: on restart
///   the destroy is applied (the node remembers what it followed) and the new set loaded;
/// - no change applied twice (the journals).
final class FleetGroupTests: XCTestCase {
    var server: PostgresServer!
    var lab: FleetLab!

    override func setUpWithError() throws {
        if let why = PostgresServer.unavailableReason ?? NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        server = try PostgresServer(tag: "groups")
        lab = try FleetLab(server: server, nodeCount: 2)
    }

    override func tearDown() {
        lab?.close()
        lab = nil
        server = nil
        super.tearDown()
    }

    func sql(_ text: String) throws { try server.psql(text, db: lab.database) }

    func dbMembers(_ set: String) throws -> Set<String> {
        Set(try server.psql("select element from fleet_members where set_name = '\(set)'", db: lab.database).split(separator: "\n").map(String.init))
    }

    func dbMaxSeq() throws -> Int64 {
        Int64(try server.psql("select coalesce(max(seq), 0) from fleet_changes", db: lab.database).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The names of the sets in the node's kernel.
    func kernelSets(_ n: FleetLab.Node) -> Set<String> {
        Set(n.ns.run(["ipset", "list", "-n"]).stdout.split(separator: "\n").map(String.init))
    }

    /// Waits (bounded) until both nodes have applied the database's last change.
    func waitCaughtUp(_ label: String, seconds: Double = 20) throws {
        let target = try dbMaxSeq()
        for n in lab.nodes {
            let until = Date().addingTimeInterval(seconds)
            while n.appliedSeq() < target && Date() < until { usleep(50_000) }
            XCTAssertEqual(n.appliedSeq(), target, "\(label): node\(n.index) applied seq; log tail:\n\(n.logText().suffix(2000))")
        }
    }

    /// Node `n`'s kernel holds exactly the database's members of each of `followed`, exactly
    /// `local` in each set it keeps as its own, and no other set.
    func assertNode(_ n: FleetLab.Node, follows followed: [String], keeps local: [String: Set<String>], _ label: String) throws {
        XCTAssertEqual(kernelSets(n), Set(followed).union(local.keys), "\(label): node\(n.index) sets")
        for set in followed {
            let want = try dbMembers(set), have = n.kernelMembers(set)
            XCTAssertEqual(have.count, want.count, "\(label): node\(n.index) \(set) count")
            XCTAssertTrue(have == want, "\(label): node\(n.index) \(set): missing \(want.subtracting(have).sorted().prefix(10)), extra \(have.subtracting(want).sorted().prefix(10))")
        }
        for (set, want) in local {
            XCTAssertEqual(n.kernelMembers(set), want, "\(label): node\(n.index) \(set) (not followed) changed")
        }
        let applied = n.journalApplied()
        XCTAssertEqual(applied.count, Set(applied).count, "\(label): node\(n.index) applied a change twice")
        XCTAssertFalse(n.logText().contains("applied a second time"), "\(label): node\(n.index)")
    }

    func testNodesFollowOnlyTheirGroupsSets() throws {
        let started = Date()
        let s = server!, lab = lab!
        try s.createDatabase(lab.database)
        let r = Run.run([Run.binary, "db", "init", "--database", lab.adminURL], env: ["EBPF_IPTABLES_NO_AGENT": "1"], deadline: .seconds(60))
        XCTAssertEqual(r.status, 0, r.stderr)
        try s.psql((1...2).map { "create role node\($0) login superuser;" }.joined(separator: "\n"))
        try sql("""
            select fleet_create('peers', 'hash:ip');
            select fleet_create('blocklist', 'hash:net');
            select fleet_create('extra', 'hash:ip');
            select fleet_add('peers', '198.18.99.1');
            select fleet_add('blocklist', '198.51.100.0/24');
            select fleet_add('blocklist', '203.0.113.0/25');
            select fleet_add('extra', '192.0.2.1');
            insert into node_groups values ('a'), ('b');
            insert into group_sets values ('a', 'peers'), ('b', 'blocklist');
            """)
        let (node1, node2) = (lab.nodes[0], lab.nodes[1])
        for n in lab.nodes {
            try lab.prepare(n)
            // A member only this node's kernel has: node 1 follows `peers` (the first load
            // removes it), node 2 does not (it stays).
            XCTAssertEqual(n.ours(["add", "peers", "198.18.98.\(n.index)"], tool: "ebpf-ipset").status, 0)
        }
        let node2Peers: Set<String> = ["198.18.98.2"]
        try lab.startServe(node1, group: "a")
        try lab.startServe(node2, group: "b")
        XCTAssertTrue(lab.waitForLog(node1, "fleet: loaded 1 set(s), 1 member(s)"), node1.logText())
        XCTAssertTrue(lab.waitForLog(node2, "fleet: loaded 1 set(s), 2 member(s)"), node2.logText())
        try waitCaughtUp("first load")
        try assertNode(node1, follows: ["peers"], keeps: [:], "first load")
        try assertNode(node2, follows: ["blocklist"], keeps: ["peers": node2Peers], "first load")

        // Changes to every set, interleaved: each reaches its group's node only.
        try sql("""
            select fleet_add('peers', '198.18.100.' || i) from generate_series(1, 30) i;
            select fleet_add('blocklist', '10.' || i || '.0.0/16') from generate_series(1, 20) i;
            select fleet_add('extra', '192.0.2.' || i) from generate_series(2, 6) i;
            select fleet_del('peers', '198.18.100.7');
            select fleet_del('blocklist', '198.51.100.0/24');
            select fleet_add('peers', '198.18.98.2');
            """)
        try waitCaughtUp("changes")
        XCTAssertEqual(try dbMembers("peers").count, 31)
        XCTAssertEqual(try dbMembers("blocklist").count, 21)
        try assertNode(node1, follows: ["peers"], keeps: [:], "changes")
        try assertNode(node2, follows: ["blocklist"], keeps: ["peers": node2Peers], "changes")

        // `extra` given to group b while node 2 runs: loaded whole (its 6 members, added before
        // it was b's), then its changes followed; node 1 still never sees it.
        // (The group_sets trigger wakes the node: no change is needed for it to notice.)
        try sql("insert into group_sets values ('b', 'extra')")
        XCTAssertTrue(lab.waitForLog(node2, "group b: now follows extra (6 member(s) loaded)", seconds: 10), node2.logText())
        try sql("select fleet_add('extra', '192.0.2.' || i) from generate_series(7, 9) i")
        try waitCaughtUp("extra given to b")
        XCTAssertEqual(try dbMembers("extra").count, 9)
        try assertNode(node1, follows: ["peers"], keeps: [:], "extra given to b")
        try assertNode(node2, follows: ["blocklist", "extra"], keeps: ["peers": node2Peers], "extra given to b")

        // `blocklist` taken from group b: node 2 keeps it as it was and stops following it.
        let kept = node2.kernelMembers("blocklist")
        try sql("delete from group_sets where group_name = 'b' and set_name = 'blocklist'")
        try sql("select fleet_add('blocklist', '172.16.' || i || '.0/24') from generate_series(1, 4) i; select fleet_del('extra', '192.0.2.1');")
        try waitCaughtUp("blocklist taken from b")
        XCTAssertEqual(kept.count, 21)
        try assertNode(node2, follows: ["extra"], keeps: ["peers": node2Peers, "blocklist": kept], "blocklist taken from b")
        try assertNode(node1, follows: ["peers"], keeps: [:], "blocklist taken from b")

        // Node 2 down: `extra` (followed) destroyed, `blocklist` given back with changes made
        // meanwhile, `peers` changed. On restart: catch-up by seq (no full load), the destroy
        // applied, blocklist reloaded to the database's members.
        lab.killServe(node2)
        try sql("""
            select fleet_destroy('extra');
            select fleet_add('blocklist', '172.17.0.0/16');
            insert into group_sets values ('b', 'blocklist');
            select fleet_add('peers', '198.18.101.' || i) from generate_series(1, 10) i;
            """)
        let from2 = node2.logText().utf8.count
        try lab.startServe(node2, group: "b")
        XCTAssertTrue(lab.waitForLog(node2, "fleet: connected", from: from2, seconds: 30), node2.logText())
        try waitCaughtUp("node 2 restarted")
        XCTAssertFalse(String(decoding: Array(node2.logText().utf8)[from2...], as: UTF8.self).contains("fleet: loaded"),
                       "node 2 caught up by seq, not by a full load")
        XCTAssertEqual(try dbMembers("blocklist").count, 26)
        try assertNode(node2, follows: ["blocklist"], keeps: ["peers": node2Peers], "node 2 restarted")
        try assertNode(node1, follows: ["peers"], keeps: [:], "node 2 restarted")

        // Each node's heartbeat row names its group.
        XCTAssertEqual(try s.psql("select name, group_name from fleet_nodes order by name", db: lab.database), "node1|a\nnode2|b\n")
        print("fleet: group test took \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}
