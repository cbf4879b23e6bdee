import Foundation
import TestSupport
import XCTest

/// `-m conntrack` options decided in XDP (bpf/ext_conntrack.h) against the kernel, over real
/// connections: a TCP handshake (the entry becomes ASSURED), UDP flows answered by the
/// receiver (SEEN_REPLY), a flow the receiver opens (its replies arrive in the REPLY
/// direction), new flows, a DNATed and a source-NATed flow, and a state test after a limit. The same traffic goes to a receiver with the
/// kernel's iptables alone (`ref`) and to one with both layers (`two`), each behind its own
/// generator namespace; every rule's packet counter (kernel's and XDP's together, as
/// ebpf-iptables-save -c merges them) must be the same in both, and XDP must have dropped
/// packets itself.
final class ConntrackOracleTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping conntrack oracle: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["python3", "conntrack"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed (apt-get install python3 conntrack)")
        }
    }

    static let rules = """
    *nat
    :PREROUTING ACCEPT [0:0]
    :INPUT ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    :POSTROUTING ACCEPT [0:0]
    -A PREROUTING -p udp --dport 7005 -j DNAT --to-destination 198.18.0.2:7006
    -A POSTROUTING -p udp --dport 7009 -j SNAT --to-source 198.18.0.2:30000-30010
    COMMIT
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    -A INPUT -p tcp --dport 7001 -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir ORIGINAL -j DROP
    -A INPUT -p udp --sport 7002 -m conntrack --ctdir REPLY --ctreplsrc 198.18.1.1 --ctstatus SEEN_REPLY -j DROP
    -A INPUT -p udp --dport 7003 -m conntrack --ctstatus SEEN_REPLY --ctorigsrcport 40003 -j DROP
    -A INPUT -p udp --dport 7004 -m conntrack --ctstate NEW --ctorigsrc 198.18.1.0/24 --ctorigdstport 7004 -j DROP
    -A INPUT -p udp --dport 7006 -m conntrack --ctstate DNAT --ctorigdstport 7005 -j DROP
    -A INPUT -p udp --dport 7007 -m conntrack ! --ctstate NEW,DNAT --ctproto udp --ctorigsrc 198.18.1.1 --ctstatus SEEN_REPLY --ctdir ORIGINAL -j DROP
    -A INPUT -p udp --dport 7008 -m conntrack --ctstatus ASSURED -j DROP
    -A INPUT -p udp --sport 7009 -m conntrack --ctstate SNAT --ctdir REPLY --ctrepldstport 30000:30010 -j DROP
    -A INPUT -p udp --dport 7010 -m limit --limit 100/sec -m state --state ESTABLISHED -j DROP
    COMMIT

    """

    /// The receiver's servers: TCP 7001 (accepts), UDP 7003 and 7007 (echo once per source
    /// port, so the flow gets SEEN_REPLY), all under `timeout`.
    static let receiverServers = """
    import socket, select, time
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("198.18.0.2", 7001)); t.listen(8)
    us = []
    for port in (7003, 7007, 7008, 7010):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.18.0.2", port)); us.append(u)
    end = time.time() + 8
    while time.time() < end:
        r, _, _ = select.select([t] + us, [], [], 0.1)
        for s in r:
            if s is t:
                c, _ = t.accept(); c.setblocking(False)
            else:
                d, a = s.recvfrom(2000); s.sendto(d, a)
    """

    /// The generator's side: an echo on 198.18.1.1:7002, then the client flows.
    static let generatorEcho = """
    import socket, time
    import select
    us = []
    for port in (7002, 7009):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.18.1.1", port)); us.append(u)
    end = time.time() + 8
    while time.time() < end:
        r, _, _ = select.select(us, [], [], 0.1)
        for s in r:
            d, a = s.recvfrom(2000); s.sendto(d, a)
    """

    static let generatorClient = """
    import socket, struct, time
    def udp(port, sport, n, gap=0.15):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.18.1.1", sport)); u.settimeout(gap)
        for i in range(n):
            u.sendto(b"x%d" % i, ("198.18.0.2", port))
            try: u.recvfrom(2000)
            except socket.timeout: pass
        u.close()
    udp(7003, 40003, 4)
    udp(7003, 40013, 3)
    udp(7004, 40004, 3)
    udp(7005, 40005, 3)
    udp(7007, 40007, 4)
    udp(7008, 40008, 4)
    udp(7010, 40010, 4)
    t = socket.socket(); t.bind(("198.18.1.1", 40001)); t.settimeout(1)
    t.connect(("198.18.0.2", 7001))
    t.send(b"data"); time.sleep(0.1)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); t.close()
    time.sleep(0.3)
    """

    /// The receiver opens flows to the generator's echoes: their replies come back as REPLY
    /// (the one to 7009 source-NATed to another port: SNAT).
    static let receiverClient = """
    import socket
    for port in (7002, 7009):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.18.0.2", port + 100)); u.settimeout(0.15)
        for i in range(4):
            u.sendto(b"r%d" % i, ("198.18.1.1", port))
            try: u.recvfrom(2000)
            except socket.timeout: pass
        u.close()
    """

    func setUpPaths(_ lab: FirewallLab, _ r: Receiver) throws {
        let steps: [[String]] = [
            ["ip", "-n", lab.gen.name, "addr", "add", "198.18.1.1/32", "dev", r.genSide],
            ["ip", "-n", lab.gen.name, "route", "add", "198.18.0.2/32", "dev", r.genSide, "src", "198.18.1.1"],
            ["ip", "-n", r.ns.name, "route", "add", "198.18.1.0/24", "dev", r.interface, "src", "198.18.0.2"],
            // No SYN-ACK retransmission (the handshake's last ACK is dropped): the counters
            // must not depend on when they are read.
            ["ip", "netns", "exec", r.ns.name, "sysctl", "-qw", "net.ipv4.tcp_synack_retries=0"],
        ]
        for s in steps {
            let out = Run.run(s)
            guard out.status == 0 else { throw LabError("\(s.joined(separator: " ")): \(out.stderr)") }
        }
    }

    func background(_ ns: NetworkNamespace, _ script: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ct-oracle-\(getpid())-\(UUID().uuidString.prefix(6)).py").path
        FileManager.default.createFile(atPath: path, contents: Data(script.utf8))
        _ = ns.run(["sh", "-c", "timeout 10 python3 \(path) >/dev/null 2>&1 </dev/null &"])
    }

    /// The traffic through one lab (its own generator, one receiver); the receiver's counters.
    func drive(_ role: String, ours: Bool) throws -> (counters: [RuleName: Count], xdpDropped: UInt64) {
        let lab = try FirewallLab()
        defer { lab.close() }
        let r = try lab.addReceiver(role)
        try setUpPaths(lab, r)
        let file = lab.root + "/ct-oracle.rules"
        FileManager.default.createFile(atPath: file, contents: Data(Self.rules.utf8))
        if ours {
            try check(r.ours(["attach", lab.interface]), "attach")
            try check(r.ours([file], tool: "ebpf-iptables-restore"), "ebpf-iptables-restore")
        } else {
            try check(r.run(["iptables-restore", file]), "iptables-restore")
        }
        background(r.ns, Self.receiverServers)
        background(lab.gen, Self.generatorEcho)
        Thread.sleep(forTimeInterval: 0.5)
        let client = FileManager.default.temporaryDirectory.appendingPathComponent("ct-oracle-client-\(getpid()).py").path
        FileManager.default.createFile(atPath: client, contents: Data(Self.generatorClient.utf8))
        try check(lab.gen.run(["timeout", "20", "python3", client]), "generator client")
        let rclient = client + ".r.py"
        FileManager.default.createFile(atPath: rclient, contents: Data(Self.receiverClient.utf8))
        try check(r.run(["timeout", "10", "python3", rclient]), "receiver client")
        try? FileManager.default.removeItem(atPath: client)
        try? FileManager.default.removeItem(atPath: rclient)
        let text = ours ? r.ours(["-c"], tool: "ebpf-iptables-save").stdout : r.run(["iptables-save", "-c"]).stdout
        let dropped = ours ? try r.xdp().stats().dropped : 0
        return (NetfilterSnapshot.iptablesCounters(text), dropped)
    }

    func check(_ r: RunResult, _ what: String) throws {
        guard r.status == 0 else { throw LabError("\(what): \(r.stderr)") }
    }

    func testConntrackOptionsDecideLikeTheKernel() throws {
        let ref = try drive("ctref", ours: false)
        let two = try drive("cttwo", ours: true)
        var compared = 0
        for i in 1...9 {
            let name = RuleName(table: "filter", chain: "INPUT", index: i)
            let k = ref.counters[name]?.packets, x = two.counters[name]?.packets
            XCTAssertNotNil(k, "rule \(i) missing in the kernel's counters")
            XCTAssertEqual(k, x, "filter INPUT rule \(i): kernel alone \(k ?? 0) packets, both layers \(x ?? 0)")
            compared += 1
        }
        // The rules the traffic is meant to hit did drop (else the test proves nothing).
        for i in [1, 2, 3, 4, 6, 8, 9] {
            XCTAssertGreaterThan(ref.counters[RuleName(table: "filter", chain: "INPUT", index: i)]?.packets ?? 0, 0, "rule \(i) never matched")
        }
        XCTAssertGreaterThan(two.xdpDropped, 5, "XDP dropped \(two.xdpDropped) packets itself")
        print("conntrack oracle: \(compared) rules agree; kernel counters \(ref.counters.filter { $0.key.chain == "INPUT" && $0.key.table == "filter" }.sorted { $0.key < $1.key }.map { "\($0.key.index ?? 0):\($0.value.packets)" }); XDP dropped \(two.xdpDropped) itself")
    }
}
