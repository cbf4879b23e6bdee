import Glibc

/// Two questions and two edits the agent puts to netfilter over netlink instead of starting
/// a kernel tool: nftables' ruleset generation (bumped by every iptables-nft change, so a
/// ruleset read back earlier is still what the kernel holds while it stays the same), and
/// `ipset add|del SET ADDRESS` of one IPv4 address, as the ipset tool sends it. Any answer
/// but success is returned to the caller, which then runs the real tool: its messages and
/// exit statuses stay ipset's own, and the failed netlink attempt changed nothing.
public enum KernelNetlink {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case system(String, Int32)
        /// The kernel's answer: a negative errno, or one of ipset's own codes (4096 and up).
        case refused(Int32)
        case malformed

        public var description: String {
            switch self {
            case let .system(what, e): "netlink \(what): \(String(cString: strerror(e)))"
            case let .refused(code): "netlink: refused (\(code))"
            case .malformed: "netlink: malformed answer"
            }
        }
    }

    public enum MemberEdit: UInt16 { case add = 9, del = 10 } // IPSET_CMD_ADD, IPSET_CMD_DEL

    static let netlinkNetfilter: Int32 = 12
    static let subsysIpset: UInt16 = 6, subsysNftables: UInt16 = 10
    static let nftGetGen: UInt16 = 16, nftaGenID: UInt16 = 1
    static let ipsetProtocol: UInt8 = 7
    static let request: UInt16 = 0x1, ack: UInt16 = 0x4, excl: UInt16 = 0x200
    static let nested: UInt16 = 0x8000, netByteOrder: UInt16 = 0x4000

    /// nftables' generation id in this network namespace.
    public static func nftGeneration() throws -> UInt32 {
        var m = Message(type: subsysNftables << 8 | nftGetGen, flags: request, family: UInt8(AF_UNSPEC))
        let answer = try exchange(&m)
        // NFT_MSG_NEWGEN: nlmsghdr (16), nfgenmsg (4), then attributes.
        var off = 20
        while off + 4 <= answer.count {
            let len = Int(UInt16(answer[off]) | UInt16(answer[off + 1]) << 8)
            let type = (UInt16(answer[off + 2]) | UInt16(answer[off + 3]) << 8) & 0x3fff
            guard len >= 4, off + len <= answer.count else { break }
            if type == nftaGenID, len >= 8 {
                return UInt32(answer[off + 4]) << 24 | UInt32(answer[off + 5]) << 16 | UInt32(answer[off + 6]) << 8 | UInt32(answer[off + 7])
            }
            off += (len + 3) & ~3
        }
        throw Failure.malformed
    }

    /// `ipset [-exist] add|del SET a.b.c.d`: one IPv4 address (a hash:net set takes it as /32,
    /// as the tool sends it: no CIDR attribute).
    public static func ipsetMember(_ edit: MemberEdit, set: String, ipv4: UInt32, exist: Bool) throws {
        // Without -exist the tool sets NLM_F_EXCL: adding an element already there (deleting
        // one that is not) is an error.
        var m = Message(type: subsysIpset << 8 | edit.rawValue, flags: request | ack | (exist ? 0 : excl), family: UInt8(AF_INET))
        m.attribute(1, [ipsetProtocol]) // IPSET_ATTR_PROTOCOL
        m.attribute(2, Array(set.utf8) + [0]) // IPSET_ATTR_SETNAME
        let data = m.begin(7 | nested) // IPSET_ATTR_DATA
        let ip = m.begin(1 | nested) // IPSET_ATTR_IP
        m.attribute(1 | netByteOrder, [UInt8(ipv4 >> 24), UInt8(ipv4 >> 16 & 0xff), UInt8(ipv4 >> 8 & 0xff), UInt8(ipv4 & 0xff)])
        m.end(ip)
        m.end(data)
        _ = try exchange(&m)
    }

    /// A netlink message under construction: header, nfgenmsg, attributes.
    struct Message {
        var bytes: [UInt8]

        init(type: UInt16, flags: UInt16, family: UInt8) {
            bytes = [UInt8](repeating: 0, count: 20)
            put16(4, type)
            put16(6, flags)
            bytes[16] = family // nfgen_family; version 0 (NFNETLINK_V0), res_id 0
        }

        mutating func put16(_ at: Int, _ v: UInt16) { bytes[at] = UInt8(v & 0xff); bytes[at + 1] = UInt8(v >> 8) }
        mutating func put32(_ at: Int, _ v: UInt32) { for i in 0..<4 { bytes[at + i] = UInt8(v >> (8 * UInt32(i)) & 0xff) } }

        mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
            let at = bytes.count
            bytes += [0, 0, 0, 0] + payload
            put16(at, UInt16(4 + payload.count))
            put16(at + 2, type)
            while bytes.count % 4 != 0 { bytes.append(0) }
        }

        mutating func begin(_ type: UInt16) -> Int {
            let at = bytes.count
            bytes += [0, 0, 0, 0]
            put16(at + 2, type)
            return at
        }

        mutating func end(_ at: Int) { put16(at, UInt16(bytes.count - at)) }

        mutating func finish(seq: UInt32) {
            put32(0, UInt32(bytes.count))
            put32(8, seq)
        }
    }

    /// Sends `m` and returns the first answer that is not an ACK (an NLMSG_ERROR of 0);
    /// an error answer throws `.refused`.
    static func exchange(_ m: inout Message) throws -> [UInt8] {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkNetfilter)
        guard fd >= 0 else { throw Failure.system("socket", errno) }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let seq = UInt32(truncatingIfNeeded: time(nil))
        m.finish(seq: seq)
        // sockaddr_nl (not in Glibc's module): family, padding, pid 0 (the kernel), groups 0.
        var kernel = [UInt8](repeating: 0, count: 12)
        kernel[0] = UInt8(AF_NETLINK & 0xff)
        kernel[1] = UInt8(AF_NETLINK >> 8)
        let sent = kernel.withUnsafeBytes { k in
            m.bytes.withUnsafeBytes {
                sendto(fd, $0.baseAddress, m.bytes.count, 0, k.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(k.count))
            }
        }
        guard sent == m.bytes.count else { throw Failure.system("send", errno) }
        var buf = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<16 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.system("recv", errno)
            }
            var off = 0
            while off + 16 <= n {
                let len = Int(UInt32(buf[off]) | UInt32(buf[off + 1]) << 8 | UInt32(buf[off + 2]) << 16 | UInt32(buf[off + 3]) << 24)
                let type = UInt16(buf[off + 4]) | UInt16(buf[off + 5]) << 8
                guard len >= 16, off + len <= n else { throw Failure.malformed }
                if type == 2 { // NLMSG_ERROR: int error, then the request's header
                    guard len >= 20 else { throw Failure.malformed }
                    let code = Int32(bitPattern: UInt32(buf[off + 16]) | UInt32(buf[off + 17]) << 8 | UInt32(buf[off + 18]) << 16 | UInt32(buf[off + 19]) << 24)
                    if code != 0 { throw Failure.refused(code) }
                    return []
                }
                if type != 3 { return Array(buf[off..<off + len]) } // not NLMSG_DONE: the answer
                off += (len + 3) & ~3
            }
        }
        throw Failure.malformed
    }
}
