import ChildProcess
import Foundation
import TestSupport

/// Seconds on CLOCK_MONOTONIC, the clock python's time.monotonic() reads in every namespace.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A stream of UDP datagrams from a generator namespace, round robin over traffic classes
/// (each a list of source addresses), sent on several interfaces at once (the same frame to
/// every receiver), each carrying its class and sequence number; and, in each receiving
/// namespace, a UDP socket that records which ones arrived. Bounded in time and count; it
/// stops when told or at `maxSeconds`.
final class TrafficStream {
    /// A class of traffic: `count` consecutive source addresses from `first`.
    struct Class {
        var name: String
        var first: UInt32
        var count: UInt32 = 1
    }

    /// What the stream did: when each datagram was sent (by sequence number; its class is
    /// `seq % classes`), and per receiver which arrived.
    struct Record {
        var sent: [Double]
        var received: [Set<Int>]
        /// Datagrams a receiving socket lost for want of buffer (must be 0 for the record to mean anything).
        var socketDrops: [Int]
    }

    static let sender = """
    import socket, struct, sys, threading, time
    ifaces, dst_mac, dst_ip, dport, rate, max_s, max_n = sys.argv[1].split(','), bytes.fromhex(sys.argv[2]), \\
        socket.inet_aton(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
    classes = [(int(a), int(n)) for a, n in (c.split('*') for c in sys.argv[8].split(','))]
    stop = []
    def watch():
        sys.stdin.read()
        stop.append(1)
    threading.Thread(target=watch, daemon=True).start()
    socks = []
    for name in ifaces:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((name, 0))
        socks.append(s)
    def csum(b):
        t = sum(struct.unpack('!10H', b))
        t = (t & 0xffff) + (t >> 16)
        t = (t & 0xffff) + (t >> 16)
        return ~t & 0xffff
    n = len(classes)
    log = []
    seq = 0
    start = time.monotonic()
    sys.stdout.write("started\\n")
    sys.stdout.flush()
    while not stop and seq < max_n and time.monotonic() - start < max_s:
        c = seq % n
        first, count = classes[c]
        src = struct.pack('!I', first + (seq // n) % count)
        payload = struct.pack('!BI', c, seq) + b'e2e-stream'
        udp = struct.pack('!HHHH', 20000 + c, dport, 8 + len(payload), 0) + payload
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), seq & 0xffff, 0x4000, 64, 17, 0, src, dst_ip)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        frame = dst_mac + b'\\x02\\x00\\x00\\x00\\x00\\x01\\x08\\x00' + ip + udp
        t = time.monotonic()
        for s in socks:
            s.send(frame)
        log.append(t)
        seq += 1
        ahead = start + seq / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    sys.stdout.write("\\n".join("%.6f" % t for t in log) + "\\nend\\n")
    """

    static let receiver = """
    import socket, struct, sys, threading, time
    def rcvbuf_errors():
        lines = [l.split() for l in open('/proc/net/snmp') if l.startswith('Udp:')]
        return int(lines[1][lines[0].index('RcvbufErrors')])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    s.bind(('0.0.0.0', int(sys.argv[1])))
    s.settimeout(0.05)
    errors = rcvbuf_errors()
    stop = []
    def watch():
        sys.stdin.read()
        stop.append(time.monotonic())
    threading.Thread(target=watch, daemon=True).start()
    sys.stdout.write("started\\n")
    sys.stdout.flush()
    got = []
    while not stop or time.monotonic() - stop[0] < 0.3:
        try:
            data = s.recv(64)
        except socket.timeout:
            continue
        if len(data) >= 5:
            got.append(struct.unpack('!BI', data[:5])[1])
    sys.stdout.write("%d\\n" % (rcvbuf_errors() - errors))
    sys.stdout.write("\\n".join(str(x) for x in got) + "\\nend\\n")
    """

    static let port: UInt16 = 7777

    /// A running child (a class, so that several fit in an array).
    final class Child {
        var running: ChildProcess.Running
        init(_ r: consuming ChildProcess.Running) { running = r }
    }

    let classes: [Class]
    private var senderChild: Child?
    private var receiverChildren: [Child] = []

    /// Starts the receivers, then the sender: `rate` datagrams a second in all (each on every
    /// interface of `interfaces`, which lead to `receivers`, in that order).
    init(classes: [Class], gen: NetworkNamespace, interfaces: [String], receivers: [NetworkNamespace],
         rate: Double, maxSeconds: Double, maxPackets: Int = 2_000_000) throws {
        self.classes = classes
        for ns in receivers {
            let c = Child(try ChildProcess.spawn(.init("ip", arguments: ["netns", "exec", ns.name, "python3", "-c", Self.receiver, "\(Self.port)"],
                                                 stdin: .pipe, deadline: .seconds(Int64(maxSeconds) + 60))))
            guard try c.running.readLine(deadline: .seconds(10)).map({ String(decoding: $0, as: UTF8.self) }) == "started" else {
                throw LabError("stream receiver in \(ns.name) did not start: \(try c.running.wait(deadline: .seconds(2)).stderrText)")
            }
            receiverChildren.append(c)
        }
        let spec = classes.map { "\($0.first)*\($0.count)" }.joined(separator: ",")
        let s = Child(try ChildProcess.spawn(.init("ip", arguments: ["netns", "exec", gen.name, "python3", "-c", Self.sender,
                                                               interfaces.joined(separator: ","),
                                                               FirewallLab.mac.map { String(format: "%02x", $0) }.joined(),
                                                               Probe.dotted(FirewallLab.address), "\(Self.port)", "\(rate)", "\(maxSeconds)",
                                                               "\(maxPackets)", spec],
                                             stdin: .pipe, deadline: .seconds(Int64(maxSeconds) + 60))))
        guard try s.running.readLine(deadline: .seconds(10)).map({ String(decoding: $0, as: UTF8.self) }) == "started" else {
            throw LabError("stream sender did not start: \(try s.running.wait(deadline: .seconds(2)).stderrText)")
        }
        senderChild = s
    }

    /// Stops the sender, lets the receivers drain, and collects what happened.
    func stop() throws -> Record {
        guard let s = senderChild else { throw LabError("stream stopped twice") }
        senderChild = nil
        s.running.closeStdin()
        let sent = try s.running.wait(deadline: .seconds(30))
        let times = sent.stdoutText.split(separator: "\n").compactMap { Double($0) }
        guard sent.stdoutText.hasSuffix("end\n") else { throw LabError("stream sender: \(sent.stderrText)") }
        var received: [Set<Int>] = [], drops: [Int] = []
        for c in receiverChildren {
            c.running.closeStdin()
            let r = try c.running.wait(deadline: .seconds(30))
            let lines = r.stdoutText.split(separator: "\n")
            guard r.stdoutText.hasSuffix("end\n"), let first = lines.first, let d = Int(first) else {
                throw LabError("stream receiver: \(r.stderrText)")
            }
            drops.append(d)
            received.append(Set(lines.dropFirst().compactMap { Int($0) }))
        }
        receiverChildren = []
        return Record(sent: times, received: received, socketDrops: drops)
    }
}
