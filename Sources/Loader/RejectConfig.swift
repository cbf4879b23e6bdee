import CLibbpf
import Glibc

/// What the kernel's REJECT reply depends on beyond the packet (`struct eipt_reject_config`),
/// read from the sysctls of the network namespace this process runs in — the one the program
/// serves, since the Loader writes its tables from there: the replies' TTL and the ICMP rate
/// limits of icmp_send (net/ipv4/icmp.c).
public struct RejectSysctls: Equatable, Sendable {
    /// net.ipv4.ip_default_ttl: the TTL of replies on routes without a hoplimit metric.
    public var ttl: UInt32
    /// net.ipv4.icmp_ratelimit (ms): the per-destination token bucket's cost of one message.
    public var ratelimitMs: UInt32
    /// net.ipv4.icmp_ratemask: which ICMP types are rate limited (bit 3: destination unreachable).
    public var ratemask: UInt32
    public var msgsPerSec: UInt32
    public var msgsBurst: UInt32

    /// The kernel's defaults (a fresh namespace has them).
    public static let defaults = RejectSysctls(ttl: 64, ratelimitMs: 1000, ratemask: 6168, msgsPerSec: 1000, msgsBurst: 50)

    public init(ttl: UInt32, ratelimitMs: UInt32, ratemask: UInt32, msgsPerSec: UInt32, msgsBurst: UInt32) {
        self.ttl = ttl
        self.ratelimitMs = ratelimitMs
        self.ratemask = ratemask
        self.msgsPerSec = msgsPerSec
        self.msgsBurst = msgsBurst
    }

    /// Read from /proc/sys/net/ipv4 (namespace-local); nil when one cannot be read, and then
    /// the program passes every REJECTed packet up (ttl 0).
    public static func current(root: String = "/proc/sys/net/ipv4") -> RejectSysctls? {
        func read(_ name: String) -> UInt32? {
            guard let f = fopen("\(root)/\(name)", "r") else { return nil }
            defer { fclose(f) }
            var buf = [CChar](repeating: 0, count: 64)
            guard fgets(&buf, Int32(buf.count), f) != nil else { return nil }
            let digits = buf.prefix { $0 >= 0x30 && $0 <= 0x39 }.map { UInt8(bitPattern: $0) }
            return UInt32(String(decoding: digits, as: UTF8.self))
        }
        guard let ttl = read("ip_default_ttl"), let rl = read("icmp_ratelimit"), let mask = read("icmp_ratemask"),
              let perSec = read("icmp_msgs_per_sec"), let burst = read("icmp_msgs_burst")
        else { return nil }
        return RejectSysctls(ttl: ttl, ratelimitMs: rl, ratemask: mask, msgsPerSec: perSec, msgsBurst: burst)
    }

    var encoded: eipt_reject_config {
        var c = eipt_reject_config()
        c.ttl = ttl
        c.ratelimit_ms = ratelimitMs
        c.ratemask = ratemask
        c.msgs_per_sec = msgsPerSec
        c.msgs_burst = msgsBurst
        return c
    }
}

extension Dataplane {
    /// Writes reject_config: `sysctls`, or this namespace's when nil. Called with every table
    /// write, so a sysctl changed since is picked up at the next restore.
    public func writeRejectConfig(_ sysctls: RejectSysctls? = nil) throws(LoaderError) {
        let c = (sysctls ?? RejectSysctls.current())?.encoded ?? eipt_reject_config()
        try map("reject_config").update(UInt32(0), c)
    }
}
