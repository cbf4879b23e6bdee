import Agent
import AgentHTTP
import ArgumentParser
import Dispatch
import Fleet
import Foundation
import Loader
import Logging
import Runtime

/// `ebpf-iptables serve`: the node agent (docs/agent.md). Restores the saved ruleset, then
/// serves the control socket the CLI forwards to and, with `--listen`, the REST API.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the node agent: persistence, the control socket, the REST API over HTTPS, metrics.")

    @Option(help: "Serve the REST API over HTTPS on ADDR:PORT.")
    var listen: String?

    @Option(help: "The server's certificate chain (PEM), with --listen.")
    var cert: String?

    @Option(help: "The server's private key (PEM), with --listen.")
    var key: String?

    @Option(help: "Bearer tokens, one per line, with --listen.")
    var tokens: String?

    @Option(name: .customLong("client-ca"), help: "Require client certificates signed by this CA (PEM): mutual TLS.")
    var clientCA: String?

    @Option(help: "The control socket (default: agent.sock in the state directory).")
    var socket: String?

    @Option(help: "Follow the fleet's sets in this PostgreSQL database (docs/fleet.md): postgres://user@host/db or postgres:///db?host=/socket/dir.")
    var database: String?

    @Option(help: "With --database: follow only the sets of this node group.")
    var group: String?

    @Option(name: .customLong("node-name"), help: "With --database: this node's name in fleet_nodes (default: the host name).")
    var nodeName: String?

    func validate() throws {
        if database == nil, group != nil || nodeName != nil { throw ValidationError("--group and --node-name go with --database") }
        if let database {
            do { _ = try DatabaseURL(database) } catch { throw ValidationError("--database: \(error)") }
        }
        if listen != nil {
            for (name, value) in [("--cert", cert), ("--key", key), ("--tokens", tokens)] where value == nil {
                throw ValidationError("--listen needs \(name)")
            }
            guard Self.hostPort(listen ?? "") != nil else { throw ValidationError("--listen: expected ADDR:PORT, got '\(listen ?? "")'") }
        } else if cert != nil || key != nil || tokens != nil || clientCA != nil {
            throw ValidationError("--cert, --key, --tokens and --client-ca go with --listen")
        }
    }

    /// `ADDR:PORT`, `[v6]:PORT`.
    static func hostPort(_ s: String) -> (String, Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(s[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func configuration(paths: Paths) -> ServeConfiguration {
        var https: HTTPSConfiguration? = nil
        if let listen, let (host, port) = Self.hostPort(listen), let cert, let key, let tokens {
            https = HTTPSConfiguration(host: host, port: port, certificateFile: cert, keyFile: key, tokensFile: tokens, clientCAFile: clientCA)
        }
        return ServeConfiguration(controlSocket: socket ?? paths.agentSocket, configDir: paths.configDir, https: https)
    }

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        // A client that hangs up before its answer, or a kernel tool that exits before reading
        // its input, must be an error to handle, not the end of the agent.
        signal(SIGPIPE, SIG_IGN)
        var logger = Logger(label: "ebpf-iptables")
        logger.logLevel = .info
        let paths = Paths.fromEnvironment()
        let config = configuration(paths: paths)
        let v = Libbpf.version
        // The agent's kernel layer saves process starts on the edits' success path (AgentKernel).
        let kernel = AgentKernel(base: SystemKernel(runner: ChildProcessRunner()))
        // The data plane stays open across requests, checked before each (KeptXDPHost).
        let firewall = Firewall(paths: paths, kernel: kernel, host: KeptXDPHost(pinRoot: paths.pinRoot))
        let service = FirewallService(firewall: firewall, paths: paths, logger: logger, libbpf: "\(v.major).\(v.minor)")
        // One owner per firewall: a second agent on the same socket stops before restoring anything.
        if let fd = AgentClient.connect(config.controlSocket) {
            close(fd)
            logger.critical("control socket: \(ControlSocketError.alreadyServed(config.controlSocket))")
            throw ExitCode(1)
        }
        let persistence = Persistence(directory: config.configDir)
        do {
            let restored = try persistence.restoreAtStart(service)
            if !restored.isEmpty { logger.info("\(restored)") }
        } catch {
            // The firewall the kernel holds now stays; the agent still starts so that it can be repaired.
            logger.error("restore at start failed: \(error)")
        }
        persistence.follow(service)
        let watcher = LinkWatcher(service: service)
        do { try watcher.start() } catch { logger.error("link watcher: \(error)") }
        // The control socket lives in the state directory, which a fresh machine lacks.
        let socketDir = (config.controlSocket as NSString).deletingLastPathComponent
        if !socketDir.isEmpty { try? FileManager.default.createDirectory(atPath: socketDir, withIntermediateDirectories: true) }
        let control = ControlSocket(path: config.controlSocket, service: service)
        do {
            try control.start()
        } catch {
            logger.critical("control socket: \(error)")
            throw ExitCode(1)
        }
        // With --listen, ready means the HTTPS address is bound too: a unit ordered after
        // ours may call the API at once.
        let bound = DispatchSemaphore(value: 0)
        if let https = config.https {
            Task {
                do {
                    try await RESTServer.run(https, service: service, logger: logger, listening: { bound.signal() })
                } catch {
                    logger.critical("REST API on \(https.host):\(https.port): \(error)")
                    control.stop()
                    Foundation.exit(1)
                }
            }
        }
        // The fleet: the database's sets, followed live (docs/fleet.md). Started once the
        // saved ruleset is back, so the first load lands on the sets the rules reference.
        if let database, let url = try? DatabaseURL(database) {
            let name = nodeName ?? ProcessInfo.processInfo.hostName
            let api = config.https.map { "https://\($0.host):\($0.port)" }
            FleetFollower(config: FleetFollowerConfiguration(database: url, group: group, nodeName: name, apiURL: api, stateDir: paths.stateDir),
                          service: service, logger: logger).start()
        }
        let notify = ServiceNotify()
        let term = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .main)
        let int = DispatchSource.makeSignalSource(signal: SIGINT, queue: .main)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        for (source, name) in [(term, "SIGTERM"), (int, "SIGINT")] {
            source.setEventHandler {
                logger.info("stopping (\(name))")
                notify.send("STOPPING=1")
                // No new request starts; one running finishes under the state lock first.
                control.stop()
                watcher.stop()
                service.performSyncBarrier()
                kernel.stop()
                logger.info("stopped (kernel layer: \(kernel.netlinkEdits) ipset edits over netlink, \(kernel.cachedSaves) iptables-save answered from the last read, \(kernel.restoreAppends) appends through iptables-restore)")
                Foundation.exit(0)
            }
            source.resume()
        }
        // Ready only now: the saved ruleset is back, the control socket answers, and the
        // HTTPS address is bound (a bind that fails exits 1 above, never READY=1).
        if config.https != nil { bound.wait() }
        let told = notify.send("READY=1")
        logger.info("serving (state \(paths.stateDir), config \(config.configDir), socket \(config.controlSocket)\(told ? ", READY=1 sent" : ""))")
        dispatchMain()
    }
}
