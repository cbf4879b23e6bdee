import Foundation
import Loader

/// `PinnedXDPHost` for a resident process (the agent): the data plane opened once (the
/// program and its 21 maps, 22 descriptors) is kept across commands, and only checked
/// before each: the program pinned now is still the one kept (its id: two system calls;
/// a detach and re-attach by a CLI running alone pins another program), and it is still
/// attached to the interface (the same rtnetlink question the plain host asks). Anything
/// else, or any doubt, goes to the plain host, which opens everything again.
///
/// The kept descriptors hold the program alive, so its id cannot be reused by another one
/// while kept. Every caller runs under the state lock; the lock here only keeps the cache
/// itself consistent.
public final class KeptXDPHost: XDPHost, @unchecked Sendable {
    let plain: PinnedXDPHost
    private let lock = NSLock()
    private var kept: (interface: String, layer: PinnedXDP)?

    public init(pinRoot: String) { plain = PinnedXDPHost(pinRoot: pinRoot) }

    public func open(interface: String) throws -> XDPLayer? {
        if let k = lock.withLock({ kept }), k.interface == interface,
           Dataplane.pinnedProgramID(at: plain.pinRoot) == k.layer.dp.programID,
           let a = try? Dataplane.attached(interface: interface), a.programID == k.layer.dp.programID {
            return k.layer
        }
        lock.withLock { kept = nil }
        let layer = try plain.open(interface: interface)
        if let p = layer as? PinnedXDP { lock.withLock { kept = (interface, p) } }
        return layer
    }

    public func attach(interface: String, mode: String) throws -> XDPLayer {
        lock.withLock { kept = nil }
        let layer = try plain.attach(interface: interface, mode: mode)
        if let p = layer as? PinnedXDP { lock.withLock { kept = (interface, p) } }
        return layer
    }

    public func detach(interface: String) throws {
        lock.withLock { kept = nil }
        try plain.detach(interface: interface)
    }
}
