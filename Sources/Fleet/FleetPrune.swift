import Foundation
import Logging
import PostgresNIO

/// `ebpf-iptables db prune`: deletes old rows of the change log (`fleet_prune`,
/// `fleet_prune_older` of 0003_prune.sql, under the writers' lock). A node whose applied seq
/// is below the cut then resynchronises from a snapshot (FleetFollower), so pruning past a
/// node is allowed: it costs that node a full load, never a missed change.
public enum FleetPrune {
    public enum Cut: Sendable, Equatable {
        /// Delete every change with seq < this.
        case beforeSeq(Int64)
        /// Keep the changes of the last N seconds.
        case keepSeconds(Int)
    }

    public struct Outcome: Sendable, Equatable {
        /// Rows deleted now.
        public var deleted: Int64
        /// Every change below this seq is gone (fleet_log_state.pruned_below).
        public var prunedBelow: Int64
        /// Nodes (fleet_nodes) whose applied seq is below the cut: they will resynchronise.
        public var behind: [String]
    }

    public static func run(_ url: DatabaseURL, _ cut: Cut, logger: Logger = FleetConnection.quietLogger) async throws -> Outcome {
        let conn = try await FleetConnection.connect(url, logger: logger)
        defer { Task { try? await conn.close() } }
        do {
            return try await prune(conn, cut, logger: logger)
        } catch let e as FleetDatabaseError {
            throw e
        } catch {
            throw FleetDatabaseError("db prune: \(FleetDatabaseError.describe(error)) (nothing deleted)")
        }
    }

    static func prune(_ conn: PostgresConnection, _ cut: Cut, logger: Logger) async throws -> Outcome {
        var ready = false
        for try await ok in try await conn.query("select to_regclass('fleet_log_state') is not null", logger: logger).decode(Bool.self) { ready = ok }
        guard ready else { throw FleetDatabaseError("db prune: the database has no fleet_log_state: run `ebpf-iptables db init` first (0003_prune.sql)") }
        var deleted: Int64 = 0
        switch cut {
        case .beforeSeq(let s):
            for try await n in try await conn.query("select fleet_prune(\(s))", logger: logger).decode(Int64.self) { deleted = n }
        case .keepSeconds(let k):
            for try await n in try await conn.query("select fleet_prune_older(\(k)::int)", logger: logger).decode(Int64.self) { deleted = n }
        }
        var below: Int64 = 0
        for try await b in try await conn.query("select pruned_below from fleet_log_state", logger: logger).decode(Int64.self) { below = b }
        var behind: [String] = []
        for try await name in try await conn.query("select name from fleet_nodes where coalesce(applied_seq, 0) + 1 < \(below) order by name", logger: logger).decode(String.self) {
            behind.append(name)
        }
        return Outcome(deleted: deleted, prunedBelow: below, behind: behind)
    }
}

extension FleetBlocking {
    public static func prune(_ url: DatabaseURL, _ cut: FleetPrune.Cut) throws -> FleetPrune.Outcome {
        try BlockingResult.run { try await FleetPrune.run(url, cut) }
    }
}
