import Foundation
import Glibc

/// `send`: the end-to-end generator. Sends copies of one UDP frame to port 5060 out of
/// `--interface` (an AF_PACKET socket) at `--rate` packets/s, or as
/// fast as it can with `--rate 0`, until `--count` frames or `--max-seconds` have gone.
/// Runs in the generator namespace; prints `sent seconds`.
struct SendCommand {
    static let usage = "send --interface IF --source A.B.C.D --destination A.B.C.D --dst-mac MAC "
        + "--rate PPS --count N [--max-seconds S]"

    let interface: String
    let frame: [UInt8]
    let rate: Int
    let count: Int
    let maxSeconds: Double

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        interface = try o.string("interface")
        let udp = UDPFrame(source: try o.address("source"), destination: try o.address("destination"))
        var bytes = udp.bytes(destinationMAC: try macBytes(try o.string("dst-mac")))
        bytes.replaceSubrange(6..<12, with: try interfaceMAC(interface))
        frame = bytes
        rate = try o.int("rate")
        count = try o.int("count")
        maxSeconds = try o.double("max-seconds", default: 10)
    }

    func run() throws {
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
        guard fd >= 0 else { throw BenchError(description: "AF_PACKET socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // struct sockaddr_ll (linux/if_packet.h), which Swift's Glibc does not import:
        // family u16, protocol be16, ifindex i32, then hatype, pkttype, halen, addr[8].
        var sll = [UInt8](repeating: 0, count: 20)
        let index = Int32(if_nametoindex(interface))
        guard index > 0 else { throw BenchError(description: "no interface \(interface)") }
        withUnsafeBytes(of: UInt16(AF_PACKET)) { sll.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: UInt16(0x0003).bigEndian) { sll.replaceSubrange(2..<4, with: $0) } // ETH_P_ALL
        withUnsafeBytes(of: index) { sll.replaceSubrange(4..<8, with: $0) }
        let b = sll.withUnsafeBytes { bind(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), 20) }
        guard b == 0 else { throw BenchError(description: "bind AF_PACKET to \(interface): \(String(cString: strerror(errno)))") }

        // One send(2) per frame: sendmmsg is not in Swift's Glibc either, and one call per
        // frame still reaches several hundred thousand frames/s, above what is measured.
        let batch = 32
        let start = monotonicSeconds()
        var sent = 0
        var elapsed = 0.0
        try frame.withUnsafeBytes { f in
            while sent < count && elapsed < maxSeconds {
                elapsed = monotonicSeconds() - start
                var n = min(batch, count - sent)
                if rate > 0 {
                    let due = Int(Double(rate) * elapsed) - sent
                    if due <= 0 {
                        var ts = timespec(tv_sec: 0, tv_nsec: 50_000)
                        nanosleep(&ts, nil)
                        continue
                    }
                    n = min(n, due)
                }
                for _ in 0..<n {
                    if send(fd, f.baseAddress, f.count, 0) < 0 {
                        if errno == ENOBUFS || errno == EAGAIN { continue }
                        throw BenchError(description: "send on \(interface): \(String(cString: strerror(errno)))")
                    }
                    sent += 1
                }
            }
        }
        print("\(sent) \(fixed(monotonicSeconds() - start, 6))")
    }
}
