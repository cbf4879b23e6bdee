import CLibmnl
import Glibc

/// One rtnetlink notification about an interface or an IPv4 address, as the node agent
/// needs it: which interface (index and name), and for an address which one.
public struct LinkEvent: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// RTM_NEWLINK: an interface appeared or changed (flags, XDP program, name, ...).
        case link
        /// RTM_DELLINK: the interface is gone.
        case linkRemoved
        case addressAdded
        case addressRemoved
        /// RTM_NEWROUTE/RTM_DELROUTE of an IPv4 route in the local table (255), which
        /// `-m addrtype` reads.
        case localRouteChanged
    }

    public var kind: Kind
    public var index: Int32
    /// IFLA_IFNAME for links; IFA_LABEL (usually the interface's name) for addresses.
    public var name: String?
    /// IFF_UP of a link.
    public var up: Bool
    /// The IPv4 address of an address event (IFA_LOCAL, else IFA_ADDRESS), host order.
    public var address: UInt32?
    public var prefixLength: UInt8

    public init(kind: Kind, index: Int32, name: String? = nil, up: Bool = false, address: UInt32? = nil, prefixLength: UInt8 = 0) {
        self.kind = kind
        self.index = index
        self.name = name
        self.up = up
        self.address = address
        self.prefixLength = prefixLength
    }
}

/// What one read of the socket brought: events, or the news that some were lost (the
/// socket's buffer overflowed, ENOBUFS) and the caller must look at the machine itself.
public enum LinkEventBatch: Equatable, Sendable {
    case events([LinkEvent])
    case overrun
}

/// An rtnetlink socket (libmnl) subscribed to RTNLGRP_LINK and RTNLGRP_IPV4_IFADDR of the
/// network namespace of the thread that opens it. Reads block; `descriptor` is for poll(2),
/// so a reader can wait on it beside a stop signal.
public final class LinkEventSocket: @unchecked Sendable {
    private let nl: OpaquePointer
    private var buffer: [UInt8]

    public init() throws(LoaderError) {
        guard let nl = mnl_socket_open(NETLINK_ROUTE) else { throw LoaderError.lastErrno("open rtnetlink socket") }
        // RTMGRP_* are the groups' bits for bind(2) (group N is bit N-1).
        let groups = UInt32(RTMGRP_LINK) | UInt32(RTMGRP_IPV4_IFADDR) | UInt32(RTMGRP_IPV4_ROUTE)
        guard mnl_socket_bind(nl, groups, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let e = LoaderError.lastErrno("bind rtnetlink socket to the link and address groups")
            mnl_socket_close(nl)
            throw e
        }
        self.nl = nl
        // MNL_SOCKET_BUFFER_SIZE: one page or 8 KiB, whichever is larger; a batch fits.
        buffer = [UInt8](repeating: 0, count: max(Int(getpagesize()), 8192))
    }

    deinit { mnl_socket_close(nl) }

    public var descriptor: Int32 { mnl_socket_get_fd(nl) }

    /// Reads one datagram (blocking) and decodes what it holds.
    public func receive() throws(LoaderError) -> LinkEventBatch {
        let n = buffer.withUnsafeMutableBytes { mnl_socket_recvfrom(nl, $0.baseAddress, $0.count) }
        if n < 0 {
            if Glibc.errno == ENOBUFS { return .overrun }
            throw LoaderError.lastErrno("read rtnetlink socket")
        }
        return .events(buffer.withUnsafeBytes { Self.decode($0.baseAddress, count: Int(n)) })
    }

    /// The link and IPv4 address messages of one datagram.
    static func decode(_ base: UnsafeRawPointer?, count: Int) -> [LinkEvent] {
        guard let base else { return [] }
        var events: [LinkEvent] = []
        var left = Int32(count)
        var nlh: UnsafePointer<nlmsghdr>? = base.assumingMemoryBound(to: nlmsghdr.self)
        while let h = nlh, mnl_nlmsg_ok(h, left) {
            if let e = event(h) { events.append(e) }
            nlh = UnsafePointer(mnl_nlmsg_next(h, &left))
        }
        return events
    }

    /// What a message's attributes told.
    private struct Attributes {
        var name: String?
        var local: UInt32?
        var address: UInt32?
    }

    private static func event(_ h: UnsafePointer<nlmsghdr>) -> LinkEvent? {
        let type = Int32(h.pointee.nlmsg_type)
        var attrs = Attributes()
        switch type {
        case Int32(RTM_NEWLINK), Int32(RTM_DELLINK):
            guard let payload = mnl_nlmsg_get_payload(h) else { return nil }
            let ifi = payload.assumingMemoryBound(to: ifinfomsg.self).pointee
            _ = withUnsafeMutablePointer(to: &attrs) { p in
                mnl_attr_parse(h, UInt32(MemoryLayout<ifinfomsg>.size), { attr, data in
                    guard let attr, let data else { return MNL_CB_OK }
                    let a = data.assumingMemoryBound(to: Attributes.self)
                    if Int32(mnl_attr_get_type(attr)) == Int32(IFLA_IFNAME), let s = mnl_attr_get_str(attr) {
                        a.pointee.name = String(cString: s)
                    }
                    return MNL_CB_OK
                }, p)
            }
            return LinkEvent(kind: type == Int32(RTM_NEWLINK) ? .link : .linkRemoved, index: ifi.ifi_index,
                             name: attrs.name, up: ifi.ifi_flags & 1 /* IFF_UP */ != 0)
        case Int32(RTM_NEWADDR), Int32(RTM_DELADDR):
            guard let payload = mnl_nlmsg_get_payload(h) else { return nil }
            let ifa = payload.assumingMemoryBound(to: ifaddrmsg.self).pointee
            guard ifa.ifa_family == UInt8(AF_INET) else { return nil }
            _ = withUnsafeMutablePointer(to: &attrs) { p in
                mnl_attr_parse(h, UInt32(MemoryLayout<ifaddrmsg>.size), { attr, data in
                    guard let attr, let data else { return MNL_CB_OK }
                    let a = data.assumingMemoryBound(to: Attributes.self)
                    let t = Int32(mnl_attr_get_type(attr))
                    if t == Int32(IFA_LABEL), let s = mnl_attr_get_str(attr) {
                        a.pointee.name = String(cString: s)
                    } else if (t == Int32(IFA_LOCAL) || t == Int32(IFA_ADDRESS)),
                              mnl_attr_get_payload_len(attr) == 4, let v = mnl_attr_get_payload(attr) {
                        // Network order in the message.
                        let addr = UInt32(bigEndian: v.loadUnaligned(as: UInt32.self))
                        if t == Int32(IFA_LOCAL) { a.pointee.local = addr } else { a.pointee.address = addr }
                    }
                    return MNL_CB_OK
                }, p)
            }
            return LinkEvent(kind: type == Int32(RTM_NEWADDR) ? .addressAdded : .addressRemoved, index: Int32(ifa.ifa_index),
                             name: attrs.name, address: attrs.local ?? attrs.address, prefixLength: ifa.ifa_prefixlen)
        case Int32(RTM_NEWROUTE), Int32(RTM_DELROUTE):
            guard let payload = mnl_nlmsg_get_payload(h) else { return nil }
            let rtm = payload.assumingMemoryBound(to: rtmsg.self).pointee
            // rtm_table holds ids below 256 (RT_TABLE_COMPAT above): 255 is the local table.
            guard rtm.rtm_family == UInt8(AF_INET), rtm.rtm_table == 255 else { return nil }
            return LinkEvent(kind: .localRouteChanged, index: 0)
        default:
            return nil
        }
    }
}
