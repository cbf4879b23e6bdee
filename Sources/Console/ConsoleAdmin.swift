import Fleet
import PostgresNIO

/// What `ebpf-iptables console adduser` does, without the prompt.
public enum ConsoleAdmin {
    /// Stores `name` with a bcrypt hash of `password` (cost `Security.bcryptCost`); throws
    /// `ConsoleError.userExists` when the name is taken.
    public static func addUser(_ name: String, password: String, database: DatabaseURL) async throws {
        let hash = Security.hash(password: password)
        let client = PostgresClient(configuration: database.clientConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await ConsoleStore(client: client).addUser(name, passwordHash: hash)
        }
    }
}
