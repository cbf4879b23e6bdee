import Foundation
import Logging
import PostgresNIO

/// Every query the console makes, on one connection pool. Members are written only through
/// the documented SQL functions `fleet_add`/`fleet_del`/`fleet_create` (fleet-schema.md), so
/// the change log and its NOTIFY stay the one definition every writer shares.
public struct ConsoleStore: Sendable {
    public let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    /// The database's message for a refused statement (`raise exception` text included).
    public static func message(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let m = e.serverInfo?[.message] { return m }
            return "database: \(e.code)"
        }
        return "database: \(error)"
    }

    // MARK: users and sessions

    public func addUser(_ name: String, passwordHash: String) async throws {
        let rows = try await client.query("insert into console_users (name, password_hash) values (\(name), \(passwordHash)) on conflict (name) do nothing returning name")
        var inserted = false
        for try await _ in rows.decode(String.self) { inserted = true }
        if !inserted { throw ConsoleError.userExists(name) }
    }

    public func passwordHash(user: String) async throws -> String? {
        let rows = try await client.query("select password_hash from console_users where name = \(user)")
        for try await h in rows.decode(String.self) { return h }
        return nil
    }

    /// A new session; the database keeps the token's SHA-256 only. Expired sessions go now.
    public func createSession(user: String, token: String, csrf: String, lifetimeSeconds: Int) async throws {
        try await client.query("delete from console_sessions where expires_at <= now()")
        try await client.query("""
            insert into console_sessions (token_hash, user_name, csrf_token, expires_at)
            values (sha256(convert_to(\(token), 'UTF8')), \(user), \(csrf), now() + make_interval(secs => \(Double(lifetimeSeconds))))
            """)
    }

    /// The live session's user and CSRF token; nil when unknown or expired.
    public func session(token: String) async throws -> (user: String, csrf: String)? {
        let rows = try await client.query("""
            select user_name, csrf_token from console_sessions
            where token_hash = sha256(convert_to(\(token), 'UTF8')) and expires_at > now()
            """)
        for try await (u, c) in rows.decode((String, String).self) { return (u, c) }
        return nil
    }

    public func deleteSession(token: String) async throws {
        try await client.query("delete from console_sessions where token_hash = sha256(convert_to(\(token), 'UTF8'))")
    }

    // MARK: nodes

    public struct Node: Sendable {
        public var name: String
        public var group: String?
        public var apiURL: String?
        public var appliedSeq: Int64?
        /// Seconds since the node's last heartbeat.
        public var lastSeenAge: Double?
        public var xdpShare: Float?
        public var status: String?
        /// The change log's newest seq (0 when empty).
        public var maxSeq: Int64
    }

    public func nodes() async throws -> [Node] {
        let rows = try await client.query("""
            select name, group_name, api_url, applied_seq,
                   extract(epoch from now() - last_seen)::float8, xdp_share, status,
                   coalesce((select max(seq) from fleet_changes), 0)
            from fleet_nodes order by name
            """)
        var out: [Node] = []
        for try await (n, g, u, a, age, share, st, maxSeq) in rows.decode((String, String?, String?, Int64?, Double?, Float?, String?, Int64).self) {
            out.append(Node(name: n, group: g, apiURL: u, appliedSeq: a, lastSeenAge: age, xdpShare: share, status: st, maxSeq: maxSeq))
        }
        return out
    }

    public func node(named name: String) async throws -> Node? {
        try await nodes().first { $0.name == name }
    }

    // MARK: sets and members

    public struct SetSummary: Sendable {
        public var definition: FleetSetDefinition
        public var members: Int
    }

    public func sets() async throws -> [SetSummary] {
        let rows = try await client.query("""
            select s.name, s.type, s.create_options, count(m.element)
            from fleet_sets s left join fleet_members m on m.set_name = s.name
            group by s.name, s.type, s.create_options order by s.name
            """)
        var out: [SetSummary] = []
        for try await (n, t, o, c) in rows.decode((String, String, String, Int64).self) {
            out.append(SetSummary(definition: FleetSetDefinition(name: n, type: t, createOptions: o), members: Int(c)))
        }
        return out
    }

    public func set(named name: String) async throws -> FleetSetDefinition? {
        let rows = try await client.query("select name, type, create_options from fleet_sets where name = \(name)")
        for try await (n, t, o) in rows.decode((String, String, String).self) {
            return FleetSetDefinition(name: n, type: t, createOptions: o)
        }
        return nil
    }

    public struct Member: Sendable {
        public var element: String
        public var comment: String?
        public var timeout: Int32?
        public var addedAt: String
    }

    /// Members whose element or comment contains `search` (case-insensitive), at most `limit`.
    public func members(of set: String, search: String, limit: Int) async throws -> (members: [Member], total: Int) {
        let rows = try await client.query("""
            select element, comment, timeout, to_char(added_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), count(*) over ()
            from fleet_members
            where set_name = \(set)
              and (\(search) = '' or strpos(lower(element), lower(\(search))) > 0
                   or strpos(lower(coalesce(comment, '')), lower(\(search))) > 0)
            order by added_at, element limit \(limit)
            """)
        var out: [Member] = []
        var total = 0
        for try await (e, c, t, at, n) in rows.decode((String, String?, Int32?, String, Int64).self) {
            out.append(Member(element: e, comment: c, timeout: t, addedAt: at))
            total = Int(n)
        }
        return (out, total)
    }

    /// Every member's element per set, for checking an import as ipset would.
    public func allMembers() async throws -> [String: [String]] {
        let rows = try await client.query("select set_name, element from fleet_members order by set_name, added_at")
        var out: [String: [String]] = [:]
        for try await (s, e) in rows.decode((String, String).self) { out[s, default: []].append(e) }
        return out
    }

    /// `fleet_add` in its own transaction (one statement); the change's seq.
    @discardableResult
    public func add(set: String, element: String, comment: String?, timeout: Int?, actor: String) async throws -> Int64 {
        let t = timeout.map { Int32(clamping: $0) }
        let rows = try await client.query("select fleet_add(\(set), \(element), \(comment), \(t), \(actor))")
        for try await seq in rows.decode(Int64.self) { return seq }
        return 0
    }

    @discardableResult
    public func delete(set: String, element: String, actor: String) async throws -> Int64 {
        let rows = try await client.query("select fleet_del(\(set), \(element), \(actor))")
        for try await seq in rows.decode(Int64.self) { return seq }
        return 0
    }

    /// An import's creates and adds in one transaction: all or nothing.
    public func apply(_ plan: ImportPlan, actor: String) async throws {
        try await client.withTransaction(logger: Logger(label: "console.import")) { conn in
            for c in plan.creates {
                try await conn.query("select fleet_create(\(c.name), \(c.type), \(c.options), \(actor))", logger: Logger(label: "console.import"))
            }
            for a in plan.adds {
                let t = a.timeout.map { Int32(clamping: $0) }
                try await conn.query("select fleet_add(\(a.set), \(a.element), \(a.comment), \(t), \(actor))", logger: Logger(label: "console.import"))
            }
        }
    }
}
