import ArgumentParser
import Console
import Dispatch
import Fleet
import Foundation
import Logging

/// `ebpf-iptables console`: the fleet's web console over HTTPS (docs/console.md);
/// `ebpf-iptables console adduser NAME`: a login for it.
struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "The fleet's web console over HTTPS (docs/console.md).",
        subcommands: [ConsoleServe.self, ConsoleAddUser.self],
        defaultSubcommand: ConsoleServe.self)
}

/// `ebpf-iptables console --listen …` (the default subcommand: `serve` need not be written).
struct ConsoleServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the console (the default: `console --listen …`).")

    @Option(help: "Serve on ADDR:PORT (HTTPS only).")
    var listen: String

    @Option(help: "The fleet database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB or postgres:///DB?host=/socket/dir.")
    var database: String

    @Option(help: "The server's certificate chain (PEM).")
    var cert: String

    @Option(help: "The server's private key (PEM).")
    var key: String

    @Option(name: .customLong("node-token"), help: "A file holding the bearer token for the nodes' REST APIs.")
    var nodeToken: String?

    @Option(name: .customLong("node-ca"), help: "CA certificates (PEM) the nodes' API certificates must chain to (default: the system's).")
    var nodeCA: String?

    @Option(name: .customLong("session-hours"), help: "How long a login lasts, in hours (default 8).")
    var sessionHours: Double = 8

    func validate() throws {
        guard Serve.hostPort(listen) != nil else { throw ValidationError("--listen: expected ADDR:PORT, got '\(listen)'") }
        do { _ = try DatabaseURL(database) } catch { throw ValidationError(error.description) }
        guard sessionHours > 0, sessionHours <= 24 * 30 else { throw ValidationError("--session-hours: between 0 and 720") }
    }

    func run() throws {
        var logger = Logger(label: "ebpf-iptables.console")
        logger.logLevel = .info
        guard let (host, port) = Serve.hostPort(listen) else { throw ExitCode(2) }
        var config = ConsoleConfiguration(
            host: host, port: port, database: try DatabaseURL(database), certificateFile: cert, keyFile: key,
            nodeToken: try nodeToken.map { try ConsoleConfiguration.readToken(file: $0) }, nodeCAFile: nodeCA,
            sessionLifetime: .seconds(Int(sessionHours * 3600)))
        // For tests only (ConsoleLoginThrottleTests): a shorter failed-login window, so a
        // lockout ends within the test. Not an option: operators get the 15 minutes.
        if let w = ProcessInfo.processInfo.environment["EBPF_IPTABLES_CONSOLE_LOGIN_WINDOW"], let seconds = Int(w), seconds > 0 {
            config.loginPolicy.window = .seconds(seconds)
        }
        let done = DispatchSemaphore(value: 0)
        let failure = LockedBox<(any Error)?>(nil)
        Task {
            do { try await ConsoleServer.run(config, logger: logger) } catch { failure.value = error }
            done.signal()
        }
        done.wait()
        if let e = failure.value {
            logger.critical("console: \(e)")
            throw ExitCode(1)
        }
    }
}

/// `console adduser NAME --database URL`: the password from standard input (first line), or
/// asked twice without echo when standard input is a terminal. Stored as a bcrypt hash.
struct ConsoleAddUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adduser", abstract: "Add a console login (password from standard input or a prompt).")

    @Argument(help: "The user name.")
    var name: String

    @Option(help: "The fleet database URL.")
    var database: String

    func validate() throws {
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace }) else { throw ValidationError("a user name is one word") }
        do { _ = try DatabaseURL(database) } catch { throw ValidationError(error.description) }
    }

    func run() throws {
        let password: String
        if isatty(0) == 1 {
            let first = String(cString: getpass("Password for \(name): "))
            let second = String(cString: getpass("Again: "))
            guard first == second else {
                FileHandle.standardError.write(Data("ebpf-iptables console adduser: the passwords differ\n".utf8))
                throw ExitCode(1)
            }
            password = first
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        // Eight characters at least: bcrypt slows guessing, it does not make "1234" safe.
        guard password.count >= 8 else {
            FileHandle.standardError.write(Data("ebpf-iptables console adduser: the password needs at least 8 characters\n".utf8))
            throw ExitCode(1)
        }
        // bcrypt reads 72 bytes at most: a longer password would be cut silently.
        guard password.utf8.count <= 72 else {
            FileHandle.standardError.write(Data("ebpf-iptables console adduser: the password is longer than bcrypt's 72 bytes\n".utf8))
            throw ExitCode(1)
        }
        let url = try DatabaseURL(database)
        let name = self.name
        let done = DispatchSemaphore(value: 0)
        let failure = LockedBox<(any Error)?>(nil)
        Task {
            do { try await ConsoleAdmin.addUser(name, password: password, database: url) } catch { failure.value = error }
            done.signal()
        }
        done.wait()
        if let e = failure.value {
            let text = (e as? ConsoleError)?.description ?? ConsoleStore.message(e)
            FileHandle.standardError.write(Data("ebpf-iptables console adduser: \(text)\n".utf8))
            throw ExitCode(1)
        }
        print("user \(name) added")
    }
}

/// A value written by a task and read after it signalled.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ v: T) { stored = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
