import Dispatch
import Foundation
import Glibc
import Loader
import Logging
import Runtime

/// Follows the machine through rtnetlink (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR; libmnl in the
/// Loader), on a thread of its own:
///
/// - **Interfaces.** The interface the saved record (`attachment.json`, else the state's
///   attachment) names may disappear (a veth deleted, a driver reloaded, a USB NIC
///   unplugged): its XDP program goes with it, the kernel layer keeps deciding alone. When
///   an interface of that name comes back (a new index), the program is attached again
///   through the service, and compiled from what the kernel holds: the running ruleset.
///   Only a return after a disappearance does this: a program someone detached from an
///   interface that stayed is not put back behind their back.
/// - **Addresses.** The drop path keeps no list of local addresses (it asks the kernel's
///   routing, bpf_fib_lookup, at each packet), but `-m addrtype` reads a copy of the local
///   routing table (table 255; bpf/ext_addrtype.h). The program stops trusting that copy by
///   itself as soon as the kernel's routing generation moves; on every address event, route
///   event of table 255 and link event the copy is taken again (`syncLocalRoutes`), so that
///   XDP decides addrtype rules again from the next packet on (docs/addrtype.md).
public final class LinkWatcher: @unchecked Sendable {
    let service: FirewallService
    let configDir: String
    private var socket: LinkEventSocket?
    private var thread: Thread?
    private var wake: [Int32] = [-1, -1]
    private let lock = NSLock()
    private var stopping = false
    /// The index the wanted interface had when last seen; nil while it is gone.
    private var lastIndex: Int32?

    public init(service: FirewallService, configDir: String? = nil) {
        self.service = service
        self.configDir = configDir ?? service.paths.configDir
    }

    /// The interface to keep the program on, and its mode.
    func wanted() -> (interface: String, mode: String)? {
        let files = PersistedFiles(directory: configDir)
        if let a = PersistedAttachment.decode(files.read(files.attachment)) { return (a.interface, a.mode) }
        if let a = service.firewall.store.attachment { return (a.interface, a.mode) }
        return nil
    }

    /// Opens the socket in the calling thread's network namespace and starts reading.
    public func start() throws {
        let s = try LinkEventSocket()
        guard pipe(&wake) == 0 else { throw PersistenceError.errno("pipe for the link watcher") }
        socket = s
        if let w = wanted() {
            let i = if_nametoindex(w.interface)
            lastIndex = i == 0 ? nil : Int32(i)
        }
        let t = Thread { [weak self] in self?.run(s) }
        t.name = "ebpf-iptables link watcher"
        thread = t
        t.start()
        service.logger.info("link watcher: following interfaces and addresses (rtnetlink)\(wanted().map { "; keeps the program on \($0.interface)" } ?? "")")
    }

    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        if wake[1] >= 0 { var b: UInt8 = 1; _ = write(wake[1], &b, 1) }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func run(_ s: LinkEventSocket) {
        var fds = [pollfd(fd: s.descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        while !isStopping {
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                service.logger.error("link watcher: poll failed: \(String(cString: strerror(errno))); machine events are no longer followed")
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            do {
                switch try s.receive() {
                case .overrun:
                    // Events were lost: look at the interface itself.
                    service.logger.warning("link watcher: rtnetlink events lost (socket buffer overrun); checking the interface directly")
                    recheck()
                case let .events(events):
                    for e in events { handle(e) }
                }
            } catch {
                service.logger.error("link watcher: \(error)")
            }
        }
    }

    /// A fresh copy of table 255 for addrtype, in the pinned data plane (when there is one).
    func refreshLocalRoutes(_ why: String) {
        guard let dp = try? Dataplane.open(pinnedAt: service.paths.pinRoot) else { return }
        do {
            let r = try dp.syncLocalRoutes()
            service.logger.debug("link watcher: \(why): local table copied again (\(r.entries) prefixes, \(r.valid ? "valid" : "left invalid: the routing kept changing"))")
        } catch {
            service.logger.warning("link watcher: \(why): copying the local table failed (addrtype rules go to the kernel until the next change): \(error)")
        }
    }

    func handle(_ e: LinkEvent) {
        switch e.kind {
        case .localRouteChanged:
            refreshLocalRoutes("local route changed")
            return
        case .addressAdded, .addressRemoved, .link, .linkRemoved:
            refreshLocalRoutes(e.kind == .addressAdded || e.kind == .addressRemoved ? "address changed" : "link changed")
        }
        switch e.kind {
        case .localRouteChanged:
            break
        case .addressAdded, .addressRemoved:
            let addr = e.address.map { "\($0 >> 24).\(($0 >> 16) & 255).\(($0 >> 8) & 255).\($0 & 255)/\(e.prefixLength)" } ?? "?"
            service.logger.debug("link watcher: address \(addr) \(e.kind == .addressAdded ? "added to" : "removed from") \(e.name ?? "index \(e.index)") (followed by the program's route check)")
        case .linkRemoved:
            guard let w = wanted(), e.name == w.interface || e.index == lastIndex else { return }
            lastIndex = nil
            service.logger.warning("link watcher: \(w.interface) disappeared (its XDP program with it); the kernel layer decides alone until it returns")
        case .link:
            guard let w = wanted(), e.name == w.interface else { return }
            // The same device changing (flags, its XDP program): nothing to do. A new index
            // is a new device under the name: it came back (or appeared after the start).
            if lastIndex == e.index { return }
            lastIndex = e.index
            reattach(w.interface, mode: w.mode, index: e.index)
        }
    }

    /// After lost events: the interface's index now against the last one seen.
    private func recheck() {
        guard let w = wanted() else { return }
        let i = if_nametoindex(w.interface)
        if i == 0 {
            lastIndex = nil
        } else if Int32(i) != lastIndex {
            lastIndex = Int32(i)
            reattach(w.interface, mode: w.mode, index: Int32(i))
        }
    }

    /// Attaches through the service (serialised with every other request) unless our
    /// program is already there.
    private func reattach(_ interface: String, mode: String, index: Int32) {
        if let a = try? Dataplane.attachedDataplane(interface: interface), a != nil { return }
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Task {
            do { box.result = .success(try await service.perform(.attach(interface: interface, mode: mode))) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        switch box.result {
        case let .success(r)? where r.ok:
            service.logger.info("link watcher: \(interface) is back (index \(index)): re-attached with the running ruleset: \(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        case let .success(r)?:
            service.logger.error("link watcher: \(interface) is back (index \(index)) but attaching failed (exit \(r.status)): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        case let .failure(error)?:
            service.logger.error("link watcher: \(interface) is back (index \(index)) but attaching failed: \(error)")
        case nil:
            break
        }
    }

    private final class ResultBox: @unchecked Sendable {
        var result: Result<ToolResult, Error>?
    }
}
