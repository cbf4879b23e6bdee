import Fleet
import Foundation
import Logging
import PostgresNIO
import TestSupport
import XCTest

/// What the fleet costs the database, measured with simulated nodes (a LISTEN connection and
/// the catch-up query each node runs, no XDP): NOTIFY fan-out, catch-up query time, full-load
/// time, backends' memory, at 3, 10 and 30 nodes. A bench, not a test: it runs only with
/// FLEET_BENCH=1 (bench/fleet-scale sets it) and prints the numbers docs/fleet.md quotes.
final class FleetScaleBench: XCTestCase {
    final class Heard: @unchecked Sendable {
        let lock = NSLock()
        var at: [Int: [Int64: UInt64]] = [:]
        func record(_ node: Int, _ seq: Int64) {
            let t = DispatchTime.now().uptimeNanoseconds
            lock.lock(); at[node, default: [:]][seq] = t; lock.unlock()
        }
        func times(_ seq: Int64, nodes: Int) -> [UInt64]? {
            lock.lock(); defer { lock.unlock() }
            let ts = (0..<nodes).compactMap { at[$0]?[seq] }
            return ts.count == nodes ? ts : nil
        }
    }

    static func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }
    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
    }

    func testFleetScale() async throws {
        guard ProcessInfo.processInfo.environment["FLEET_BENCH"] == "1" else { throw XCTSkip("a bench: bench/fleet-scale runs it (FLEET_BENCH=1)") }
        if let why = PostgresServer.unavailableReason { throw XCTSkip(why) }
        let members = Int(ProcessInfo.processInfo.environment["FLEET_BENCH_MEMBERS"] ?? "") ?? 100_000
        let server = try PostgresServer(tag: "bench")
        try server.createDatabase("fleet")
        let r = Run.run([Run.binary, "db", "init", "--database", server.url("fleet")])
        XCTAssertEqual(r.status, 0, r.stderr)
        var t = Date()
        try server.psql("""
            select fleet_create('big', 'hash:ip', 'family inet hashsize 1024 maxelem 2097152 bucketsize 12');
            select fleet_create('peers', 'hash:ip', 'family inet hashsize 1024 maxelem 65536 bucketsize 12');
            select count(fleet_add('big', '10.' || (i >> 16) || '.' || ((i >> 8) & 255) || '.' || (i & 255))) from generate_series(1, \(members)) i;
            """, db: "fleet")
        print(String(format: "bench: %d members added through fleet_add in one transaction: %.1f s (%.0f changes/s)", members, Date().timeIntervalSince(t), Double(members) / Date().timeIntervalSince(t)))
        let sizes = try server.psql("select pg_size_pretty(pg_total_relation_size('fleet_members')), pg_size_pretty(pg_total_relation_size('fleet_changes'))", db: "fleet")
        print("bench: on disk (members | change log) for \(members) members: \(sizes.trimmingCharacters(in: .whitespacesAndNewlines))")
        let url = try DatabaseURL(server.url("fleet"))
        let logger = FleetConnection.quietLogger
        let writer = try await PostgresConnection.connect(configuration: try url.configuration(), id: 9999, logger: logger)

        // Full load: what a node's first start reads (one set of `members`).
        t = Date()
        var rows = 0
        for try await _ in try await writer.query("select element, comment, timeout, extras from fleet_members where set_name = 'big' order by added_seq", logger: logger) { rows += 1 }
        print(String(format: "bench: full load of %d members (one node's first start): %.0f ms", rows, Date().timeIntervalSince(t) * 1000))

        print("bench: nodes | NOTIFY fan-out commit->last node (median / p99 ms) | catch-up of 1 change by every node (median / p99 ms, all nodes at once) | catch-up of 1,000 changes (ms) | backends' PSS (MiB)")
        for n in [3, 10, 30] {
            let heard = Heard()
            var conns: [PostgresConnection] = []
            var listeners: [Task<Void, Never>] = []
            for k in 0..<n {
                let c = try await PostgresConnection.connect(configuration: try url.configuration(), id: k, logger: logger)
                conns.append(c)
                listeners.append(Task {
                    _ = try? await c.listen(on: "ebpf_iptables_changes") { seq in
                        for try await note in seq { if let s = Int64(note.payload) { heard.record(k, s) } }
                    }
                })
            }
            try await Task.sleep(for: .milliseconds(500))
            var fanout: [Double] = [], catchUp: [Double] = []
            for i in 0..<40 {
                var seq: Int64 = 0
                for try await s in try await writer.query("select fleet_add('peers', \("192.0.\(n).\(i + 1)"))", logger: logger).decode(Int64.self) { seq = s }
                let committed = DispatchTime.now().uptimeNanoseconds
                let deadline = committed + 5_000_000_000
                var times: [UInt64]? = nil
                while times == nil && DispatchTime.now().uptimeNanoseconds < deadline {
                    times = heard.times(seq, nodes: n)
                    if times == nil { try await Task.sleep(for: .microseconds(200)) }
                }
                guard let times else { XCTFail("not every node heard seq \(seq)"); break }
                // A notification may arrive before the writer has read its commit's reply: 0 then.
                fanout.append(Self.ms((times.max() ?? committed) > committed ? (times.max() ?? committed) - committed : 0))
                // Every node runs its catch-up query at once, as they do on a notification.
                let start = DispatchTime.now().uptimeNanoseconds
                let after = seq - 1
                try await withThrowingTaskGroup(of: Void.self) { g in
                    for c in conns {
                        g.addTask {
                            for try await _ in try await c.query("select seq, at, set_name, op, element, comment, timeout, create_type, create_options, extras from fleet_changes where seq > \(after) order by seq limit 1000", logger: logger) {}
                        }
                    }
                    try await g.waitForAll()
                }
                catchUp.append(Self.ms(DispatchTime.now().uptimeNanoseconds - start))
            }
            // One node 1,000 changes behind.
            var maxSeq: Int64 = 0
            for try await s in try await writer.query("select max(seq) from fleet_changes", logger: logger).decode(Int64.self) { maxSeq = s }
            let behind = maxSeq - 1000
            let s0 = DispatchTime.now().uptimeNanoseconds
            var got = 0
            for try await _ in try await conns[0].query("select seq, at, set_name, op, element, comment, timeout, create_type, create_options, extras from fleet_changes where seq > \(behind) order by seq limit 1000", logger: logger) { got += 1 }
            let thousand = Self.ms(DispatchTime.now().uptimeNanoseconds - s0)
            XCTAssertEqual(got, 1000)
            // Memory of the backends serving the nodes (proportional set size: shared pages split).
            var pids: [Int] = []
            for try await p in try await writer.query("select pid from pg_stat_activity where datname = 'fleet' and pid <> pg_backend_pid()", logger: logger).decode(Int32.self) { pids.append(Int(p)) }
            var pssKiB = 0
            for p in pids {
                let text = (try? String(contentsOfFile: "/proc/\(p)/smaps_rollup", encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Pss:") }) { pssKiB += Int(line.split(separator: " ")[1]) ?? 0 }
            }
            print(String(format: "bench: %5d | %6.2f / %6.2f | %6.2f / %6.2f | %6.1f | %6.1f (%d backends, %.2f MiB each)", n,
                         Self.percentile(fanout, 0.5), Self.percentile(fanout, 0.99), Self.percentile(catchUp, 0.5), Self.percentile(catchUp, 0.99),
                         thousand, Double(pssKiB) / 1024, pids.count, Double(pssKiB) / 1024 / Double(max(1, pids.count))))
            for l in listeners { l.cancel() }
            for c in conns { try? await c.close() }
        }
        try? await writer.close()
    }
}
