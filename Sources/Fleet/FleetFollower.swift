import Agent
import Foundation
import IptParse
import Logging
import PostgresNIO
import Runtime

/// `serve --database URL [--group NAME] [--node-name NAME]`.
public struct FleetFollowerConfiguration: Sendable {
    public var database: DatabaseURL
    public var group: String?
    public var nodeName: String
    public var apiURL: String?
    /// `fleet-applied` lives here (EBPF_IPTABLES_STATE).
    public var stateDir: String
    public var heartbeat: Duration = .seconds(2)

    public init(database: DatabaseURL, group: String?, nodeName: String, apiURL: String?, stateDir: String) {
        self.database = database
        self.group = group
        self.nodeName = nodeName
        self.apiURL = apiURL
        self.stateDir = stateDir
    }
}

/// The node's side of the fleet (docs/fleet.md): keeps the kernel's sets (and XDP, through the
/// live set path every `ebpf-ipset add` takes) equal to the database's.
///
/// - At first start (no `fleet-applied`), or when the database's log is behind what we applied
///   (a new database), it loads every set it follows in one snapshot: a set the kernel lacks
///   is created (so rules may reference it), a set the kernel has gets the database's members
///   (the difference only, as one `ipset -exist restore`: members in both never leave); a set
///   of another type in the kernel is left as it is (logged). Sets the database lacks stay as
///   the kernel has them.
/// - Then it LISTENs on `ebpf_iptables_changes` and, at each notification (a wake-up only)
///   and every heartbeat, applies `fleet_changes` with `seq > applied`, in order, each through
///   the agent's own request path, recording each in the journal after it is applied.
/// - Disconnected (database down, restarted, unreachable): the firewall keeps its last
///   state; it reconnects with backoff and catches up by seq.
public final class FleetFollower: @unchecked Sendable {
    let config: FleetFollowerConfiguration
    let service: FirewallService
    let logger: Logger
    let journal: FleetJournal
    let followedFile: FleetFollowedSets
    private let lock = NSLock()
    private var latestSeq: Int64 = 0
    private var lagSeconds: Double = 0
    private var connected = false
    private var appliedTotal = 0
    /// Full loads because the change log was pruned past our applied seq.
    private var resyncs = 0
    /// Whether the database has 0003's `fleet_log_state` (asked until it does, per connection).
    private var hasLogState: Bool? = nil
    private var followedSets: Set<String>? = nil
    /// XDP's share of the dropping rules (0...1) for the console, and when it was computed:
    /// it costs a read-back and a compile, so it is refreshed at most every `shareEvery`.
    private var xdpShare: Double? = nil
    private var shareAt: ContinuousClock.Instant? = nil
    static let shareEvery: Duration = .seconds(20)

    public init(config: FleetFollowerConfiguration, service: FirewallService, logger: Logger) {
        self.config = config
        self.service = service
        self.logger = logger
        journal = FleetJournal(path: config.stateDir + "/fleet-applied")
        followedFile = FleetFollowedSets(path: config.stateDir + "/fleet-followed")
        if config.group != nil { followedSets = followedFile.read() }
    }

    /// Records the sets the group uses now (in memory and in `fleet-followed`).
    func setFollowed(_ names: Set<String>?) {
        locked { followedSets = names }
        if let names, config.group != nil { followedFile.write(names) }
    }

    func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }

    /// Registers the metrics and starts following; returns at once.
    public func start() {
        let g = ServiceGauges.shared
        g.register("ebpf_iptables_fleet_applied_seq", help: "The last fleet change (fleet_changes.seq) applied on this node.") { [self] in
            Double(journal.applied ?? 0)
        }
        g.register("ebpf_iptables_fleet_lag_changes", help: "Fleet changes committed in the database and not yet applied here (as last seen).") { [self] in
            locked { Double(max(0, latestSeq - (journal.applied ?? 0))) }
        }
        g.register("ebpf_iptables_fleet_lag_seconds", help: "Age of the oldest fleet change not yet applied here, 0 when caught up.") { [self] in
            locked { lagSeconds }
        }
        g.register("ebpf_iptables_fleet_connected", help: "1 while the node is connected to the fleet database.") { [self] in
            locked { connected ? 1 : 0 }
        }
        g.register("ebpf_iptables_fleet_reapplied_total", help: "Fleet changes applied a second time (the agent died between applying one and recording it).", type: "counter") { [self] in
            Double(journal.reapplied)
        }
        g.register("ebpf_iptables_fleet_resyncs_total", help: "Full loads from a snapshot because changes this node had not applied were pruned from the change log.", type: "counter") { [self] in
            locked { Double(resyncs) }
        }
        if journal.reapplied > 0 { logger.error("fleet: \(journal.reapplied) change(s) were applied twice (journal \(journal.path))") }
        Task.detached { await self.runForever() }
    }

    func runForever() async {
        var backoff = 0.1
        while true {
            let started = ContinuousClock.now
            do {
                try await session()
            } catch {
                logger.warning("fleet: \(config.database): \(FleetDatabaseError.describe(error)); keeping the sets as they are, retrying in \(String(format: "%.1f", backoff)) s")
            }
            locked { connected = false }
            if ContinuousClock.now - started > .seconds(10) { backoff = 0.1 }
            try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
            backoff = min(backoff * 2, 5)
        }
    }

    struct SessionEnded: Error, CustomStringConvertible {
        var description: String { "the notification stream ended" }
    }

    func session() async throws {
        let conn = try await FleetConnection.connect(config.database, logger: logger)
        defer { Task { try? await conn.close() } }
        locked { hasLogState = nil }
        try await conn.listen(on: "ebpf_iptables_changes") { notifications in
            // Listening before catching up: a change committed meanwhile is either in the
            // catch-up or wakes us afterwards.
            locked { connected = true }
            logger.info("fleet: connected to \(config.database), listening (applied seq \(journal.applied.map(String.init) ?? "none"))")
            let maxSeq = try await self.maxSeq(conn)
            if journal.applied == nil || maxSeq < (journal.applied ?? 0) {
                try await fullLoad(conn)
            }
            try await catchUp(conn)
            try await heartbeat(conn)
            let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await n in notifications {
                        if let seq = Int64(n.payload) { self.locked { self.latestSeq = max(self.latestSeq, seq) } }
                        wake.yield()
                    }
                    throw SessionEnded()
                }
                group.addTask { [config] in
                    while true {
                        try await Task.sleep(for: config.heartbeat)
                        wake.yield()
                    }
                }
                group.addTask {
                    var lastBeat = ContinuousClock.now
                    for await _ in wakes {
                        let applied = try await self.catchUp(conn)
                        if applied > 0 || ContinuousClock.now - lastBeat >= self.config.heartbeat {
                            try await self.heartbeat(conn)
                            lastBeat = ContinuousClock.now
                        }
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// The newest seq the database has written: its log's newest row, or, when the log was
    /// pruned to nothing, the last seq below the cut.
    func maxSeq(_ conn: PostgresConnection) async throws -> Int64 {
        var m: Int64 = 0
        for try await s in try await conn.query("select coalesce(max(seq), 0) from fleet_changes", logger: logger).decode(Int64.self) { m = s }
        m = max(m, try await prunedBelow(conn) - 1)
        locked { latestSeq = max(latestSeq, m) }
        return m
    }

    /// Every change below this seq may have been pruned (`fleet_log_state`, 0003_prune.sql);
    /// 0 on a database without it. Only "it exists" is remembered: a database migrated to
    /// 0003 while we are connected (then pruned) is seen at the next round.
    func prunedBelow(_ conn: PostgresConnection) async throws -> Int64 {
        if locked({ hasLogState }) != true {
            var has = false
            for try await ok in try await conn.query("select to_regclass('fleet_log_state') is not null", logger: logger).decode(Bool.self) { has = ok }
            locked { hasLogState = has }
        }
        guard locked({ hasLogState }) == true else { return 0 }
        var below: Int64 = 0
        for try await b in try await conn.query("select pruned_below from fleet_log_state", logger: logger).decode(Int64.self) { below = b }
        return below
    }

    /// The sets this node follows: its group's, or nil for every set.
    func groupSets(_ conn: PostgresConnection) async throws -> Set<String>? {
        guard let group = config.group else { return nil }
        var names: Set<String> = []
        for try await n in try await conn.query("select set_name from group_sets where group_name = \(group)", logger: logger).decode(String.self) {
            names.insert(n)
        }
        return names
    }

    /// Loads every followed set as of one snapshot, then records that seq.
    func fullLoad(_ conn: PostgresConnection) async throws {
        try await conn.query("begin isolation level repeatable read read only", logger: logger)
        let seq: Int64
        let rows: [FleetSetRow]
        let followed: Set<String>?
        do {
            seq = try await maxSeq(conn)
            followed = try await groupSets(conn)
            rows = try await FleetSets.read(conn, names: followed.map(Array.init), logger: logger)
            try await conn.query("commit", logger: logger)
        } catch {
            try? await conn.query("rollback", logger: logger)
            throw error
        }
        for row in rows { try await load(row) }
        setFollowed(followed)
        journal.recordSnapshot(seq)
        logger.info("fleet: loaded \(rows.count) set(s), \(rows.reduce(0) { $0 + $1.members.count }) member(s) as of seq \(seq)")
    }

    /// Makes the kernel's set `row.name` hold exactly the database's members.
    func load(_ row: FleetSetRow) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let saved = try await service.perform(.ipset(argv: ["save", row.name], stdin: nil))
        var kernelElements: [String] = []
        if saved.ok {
            guard let script = try? IpsetParser.parse(saved.stdout, file: "<ipset save>"), let set = script.set(named: row.name) else {
                logger.error("fleet: set \(row.name): cannot read the kernel's copy; left as it is")
                return
            }
            guard set.create.type.rawValue == row.type else {
                logger.error("fleet: set \(row.name) is \(set.create.type.rawValue) in the kernel and \(row.type) in the database; left as the kernel has it")
                return
            }
            kernelElements = set.entries.map { FleetSets.row($0, in: set.create, now: now).element }
        } else {
            let r = try await service.perform(.ipset(argv: ["-exist", "create", row.name, row.type] + row.createOptions.split(separator: " ").map(String.init), stdin: nil))
            guard r.ok else {
                logger.error("fleet: create \(row.name): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
                return
            }
        }
        let wanted = Set(row.members.map(\.element))
        let have = Set(kernelElements)
        var text = ""
        for e in kernelElements where !wanted.contains(e) { text += "del \(row.name) \(e)\n" }
        for m in row.members where !have.contains(m.element) {
            text += "add \(row.name) " + m.addWords(now: now, comment: false).joined(separator: " ")
            if let c = m.comment, !c.isEmpty { text += " comment \"\(c)\"" }
            text += "\n"
        }
        guard !text.isEmpty else { return }
        let r = try await service.perform(.ipset(argv: ["-exist", "restore"], stdin: text))
        if !r.ok { logger.error("fleet: load \(row.name): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
    }

    struct Change {
        var seq: Int64
        var atMillis: Int64
        var set: String
        var op: String
        var element: String?
        var comment: String?
        var timeout: Int?
        var createType: String?
        var createOptions: String?
        var extras: String?
    }

    /// What one catch-up round reads, from one snapshot (REPEATABLE READ), so the group's
    /// sets, the sets newly given to it, the changes and the prune mark agree: a change
    /// committed after a set was taken from the group is never applied under the old group,
    /// and a prune that took rows of this batch is seen with it.
    struct Round {
        var followed: Set<String>?
        var addedRows: [FleetSetRow] = []
        var batch: [Change] = []
        var prunedBelow: Int64 = 0
    }

    func readRound(_ conn: PostgresConnection, after: Int64) async throws -> Round {
        try await conn.query("begin isolation level repeatable read read only", logger: logger)
        do {
            var round = Round(followed: try await groupSets(conn))
            if let followed = round.followed {
                let added = followed.subtracting(locked { followedSets } ?? [])
                if !added.isEmpty { round.addedRows = try await FleetSets.read(conn, names: Array(added), logger: logger) }
            }
            let rows = try await conn.query("""
                select seq, (extract(epoch from at) * 1000)::bigint, set_name, op, element, comment, timeout,
                       create_type, create_options, extras
                from fleet_changes where seq > \(after) order by seq limit 1000
                """, logger: logger)
            for try await (seq, at, set, op, element, comment, timeout, type, options, extras) in rows.decode((Int64, Int64, String, String, String?, String?, Int?, String?, String?, String?).self) {
                round.batch.append(Change(seq: seq, atMillis: at, set: set, op: op, element: element, comment: comment, timeout: timeout,
                                          createType: type, createOptions: options, extras: extras))
            }
            round.prunedBelow = try await prunedBelow(conn)
            try await conn.query("commit", logger: logger)
            return round
        } catch {
            try? await conn.query("rollback", logger: logger)
            throw error
        }
    }

    /// Applies every change after the journal's seq, in order; returns how many were applied.
    @discardableResult
    func catchUp(_ conn: PostgresConnection) async throws -> Int {
        var count = 0
        while true {
            let after = journal.applied ?? 0
            let round = try await readRound(conn, after: after)
            if after + 1 < round.prunedBelow {
                logger.warning("fleet: changes \(after + 1) to \(round.prunedBelow - 1) were pruned from the change log before this node applied them; resynchronising from a snapshot")
                try await fullLoad(conn)
                locked { resyncs += 1 }
                continue
            }
            let followed = round.followed
            // The sets followed until now: a destroy removes the set's group_sets rows in its
            // own transaction, so the group no longer names a set whose destroy we now read.
            var before: Set<String> = []
            if let followed {
                before = locked { followedSets } ?? []
                // A set newly given to our group: loaded whole (its earlier changes were not ours).
                for row in round.addedRows { try await load(row) }
                let added = followed.subtracting(before)
                if !added.isEmpty {
                    logger.info("fleet: group \(config.group ?? ""): now follows \(added.sorted().joined(separator: ", ")) (\(round.addedRows.reduce(0) { $0 + $1.members.count }) member(s) loaded)")
                }
                let dropped = before.subtracting(followed)
                if !dropped.isEmpty {
                    logger.info("fleet: group \(config.group ?? ""): no longer has \(dropped.sorted().joined(separator: ", ")) (a set taken from the group stays as the kernel has it; a destroyed one goes)")
                }
                setFollowed(followed)
            }
            for c in round.batch {
                let now = Date().timeIntervalSince1970
                locked {
                    latestSeq = max(latestSeq, c.seq)
                    lagSeconds = max(0, now - Double(c.atMillis) / 1000)
                }
                if followed == nil || followed?.contains(c.set) == true || c.op == "destroy" && before.contains(c.set) {
                    try await apply(c)
                }
                if !journal.recordApplied(c.seq) {
                    logger.error("fleet: change \(c.seq) applied a second time")
                }
                count += 1
            }
            if round.batch.count < 1000 { break }
        }
        locked {
            lagSeconds = 0
            appliedTotal += count
        }
        return count
    }

    /// One change through the agent's request path (the live set path for one member).
    func apply(_ c: Change) async throws {
        var argv: [String]
        switch c.op {
        case "add":
            guard let e = c.element else { return }
            var m = FleetMemberRow(element: e, comment: c.comment, timeout: c.timeout, extras: c.extras ?? "", expiresAt: nil)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            if let t = c.timeout, t > 0 {
                m.expiresAt = c.atMillis + Int64(t) * 1000
                if m.expiresAt ?? 0 <= now { return }
            }
            argv = ["-exist", "add", c.set] + m.addWords(now: now)
        case "del":
            guard let e = c.element else { return }
            argv = ["-exist", "del", c.set, e]
        case "create":
            argv = ["-exist", "create", c.set, c.createType ?? ""] + (c.createOptions ?? "").split(separator: " ").map(String.init)
        case "destroy":
            argv = ["destroy", c.set]
        case "flush":
            argv = ["flush", c.set]
        default:
            logger.error("fleet: change \(c.seq): unknown op \(c.op)")
            return
        }
        let r = try await service.perform(.ipset(argv: argv, stdin: nil))
        if !r.ok {
            // The kernel refused (a destroy of a set rules still use, a set missing here):
            // the node keeps what it has, and says so; the change is not retried.
            logger.error("fleet: change \(c.seq) (ipset \(argv.joined(separator: " "))): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    func heartbeat(_ conn: PostgresConnection) async throws {
        let name = config.nodeName, group = config.group, api = config.apiURL
        let applied = journal.applied ?? 0
        let share = await currentShare()
        try await conn.query("""
            insert into fleet_nodes (name, group_name, api_url, applied_seq, last_seen, xdp_share, status)
            values (\(name), \(group), \(api), \(applied), now(), \(share), 'following')
            on conflict (name) do update set group_name = excluded.group_name, api_url = excluded.api_url,
                applied_seq = excluded.applied_seq, last_seen = excluded.last_seen, xdp_share = excluded.xdp_share,
                status = excluded.status
            """, logger: logger)
    }

    /// The share `status` prints, as a fraction; nil while nothing is attached or nothing
    /// drops. A failure keeps the last value (the heartbeat must not stop for it).
    func currentShare() async -> Double? {
        let now = ContinuousClock.now
        if let at = locked({ shareAt }), now - at < Self.shareEvery { return locked { xdpShare } }
        do {
            let share = try await service.read { fw in try fw.xdpRuleShare() }
            let value = share.flatMap { $0.total > 0 ? $0.fraction : nil }
            locked { xdpShare = value; shareAt = now }
            return value
        } catch {
            logger.warning("fleet: XDP share not computed: \(error)")
            locked { shareAt = now }
            return locked { xdpShare }
        }
    }
}
