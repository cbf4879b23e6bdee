/// The peer side of the REJECT reply tests: a Python script run in the sending namespace
/// (AF_PACKET on its veth, as FrameSender does) that sends each probe frame and captures the
/// IPv4 frames that come back within a window. Frames are built here byte by byte (own
/// checksums), so both runs send exactly the same bytes.
enum RejectProber {
    static let script = #"""
import socket, struct, sys, time, select
iface, my_mac, fw_mac, mode = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]), sys.argv[4]
FW = socket.inet_aton("198.18.20.1")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff

def ip(src, dst, proto, payload, tos=0, ttl=64, ident=0x1234, frag=0, opts=b"", tot=None):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, tot or ihl * 4 + len(payload), ident, frag, ttl, proto, 0, src, dst) + opts
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def udp(src, dst, sport, dport, data, zero=False, bad=False):
    n = 8 + len(data)
    u = struct.pack("!HHHH", sport, dport, n, 0) + data
    if zero: return u
    c = csum(src + dst + struct.pack("!BBH", 0, 17, n) + u) or 0xffff
    if bad: c ^= 0x5555
    return u[:6] + struct.pack("!H", c) + u[8:]

def tcp(src, dst, sport, dport, seq, ack, flags, data=b"", bad=False):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(t)) + t)
    if bad: c ^= 0x1111
    return t[:16] + struct.pack("!H", c) + t[18:]

def icmp(t, code, rest, data):
    m = struct.pack("!BBHI", t, code, 0, rest) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]

def eth(payload, dst=None):
    return (dst or fw_mac) + my_mac + b"\x08\x00" + payload

def src(i): return socket.inet_aton("198.18.40.%d" % i)

def pattern(n): return bytes((i * 7 + 3) & 0xff for i in range(n))

def probes():
    p = []
    a = lambda name, *frames: p.append((name, list(frames)))
    i = 10
    def nxt():
        nonlocal i
        i += 1
        return src(i)
    S = nxt(); a("tcp-syn-80", eth(ip(S, FW, 6, tcp(S, FW, 40001, 80, 1000, 0, 0x02))))
    S = nxt(); a("tcp-syn-payload-80", eth(ip(S, FW, 6, tcp(S, FW, 40002, 80, 5000, 0, 0x02, pattern(33)))))
    S = nxt(); a("tcp-ack-80", eth(ip(S, FW, 6, tcp(S, FW, 40003, 80, 7000, 0xdeadbeef, 0x10, pattern(100)))))
    S = nxt(); a("tcp-fin-psh-80", eth(ip(S, FW, 6, tcp(S, FW, 40004, 80, 9000, 0, 0x09, pattern(10)))))
    S = nxt(); a("tcp-rst-80", eth(ip(S, FW, 6, tcp(S, FW, 40005, 80, 9000, 0, 0x04))))
    S = nxt(); a("tcp-bad-csum-80", eth(ip(S, FW, 6, tcp(S, FW, 40006, 80, 1, 0, 0x02, bad=True))))
    S = nxt(); a("tcp-syn-tos-80", eth(ip(S, FW, 6, tcp(S, FW, 40007, 80, 1, 0, 0x02), tos=0xb8, ttl=9)))
    for port in range(1000, 1007):
        for size in (0, 20, 600, 1400):
            S = nxt(); a("udp-%d-%d" % (port, size), eth(ip(S, FW, 17, udp(S, FW, 50000, port, pattern(size)))))
    S = nxt(); a("udp-zero-csum", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(40), zero=True))))
    S = nxt(); a("udp-bad-csum", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(40), bad=True))))
    S = nxt(); a("udp-tos-b8", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(40)), tos=0xb8)))
    S = nxt(); a("udp-tos-1e-df", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(40)), tos=0x1f, frag=0x4000)))
    S = nxt(); a("icmp-echo", eth(ip(S, FW, 1, icmp(8, 0, 0x00010001, pattern(56)))))
    S = nxt(); a("icmp-echo-1000", eth(ip(S, FW, 1, icmp(8, 0, 0x00010002, pattern(1000)))))
    S = nxt(); a("icmp-timestamp", eth(ip(S, FW, 1, icmp(13, 0, 0x00010003, pattern(12)))))
    S = nxt(); a("icmp-error-unreach", eth(ip(S, FW, 1, icmp(3, 3, 0, ip(FW, S, 17, udp(FW, S, 1, 2, b"x"))))))
    S = nxt(); a("icmp-unknown-type-40", eth(ip(S, FW, 1, icmp(40, 0, 0, pattern(8)))))
    S = nxt(); a("proto-253-valid", eth(ip(S, FW, 253, icmp(0, 0, 0, pattern(30)))))
    S = nxt(); a("proto-253-random", eth(ip(S, FW, 253, b"\x01\x02\x03\x04\x05\x06\x07")))
    S = nxt(); a("proto-47-gre", eth(ip(S, FW, 47, b"\x00\x00\x08\x00" + pattern(20))))
    S = nxt(); a("ip-options-udp", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(20)), opts=b"\x01\x01\x01\x00")))
    S = nxt(); a("ip-options-rr-udp", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(20)), opts=b"\x07\x07\x04\x00\x00\x00\x00\x00")))
    S = nxt()
    d = udp(S, FW, 50000, 1003, pattern(992))
    a("udp-fragments", eth(ip(S, FW, 17, d[:512], ident=0x4242, frag=0x2000, tot=20 + 512)),
      eth(ip(S, FW, 17, d[512:], ident=0x4242, frag=64, tot=20 + len(d) - 512)))
    S = nxt(); a("udp-first-fragment-only", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(600))[:512], ident=0x4343, frag=0x2000, tot=532)))
    S = nxt(); a("udp-broadcast", eth(ip(S, socket.inet_aton("198.18.20.255"), 17, udp(S, socket.inet_aton("198.18.20.255"), 50000, 1003, pattern(20))), dst=b"\xff" * 6))
    S = nxt(); a("udp-other-mac", eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(20))), dst=b"\x02\x00\x00\x00\x99\x99"))
    return p

def drain():
    s.setblocking(False)
    try:
        while True: s.recv(65536)
    except BlockingIOError:
        pass
    s.setblocking(True)

def capture(window):
    out = []
    end = time.time() + window
    while True:
        left = end - time.time()
        if left <= 0: break
        r, _, _ = select.select([s], [], [], left)
        if not r: break
        data, addr = s.recvfrom(65536)
        if addr[2] == 4 or data[12:14] != b"\x08\x00": continue  # our own frames, non-IPv4
        out.append(data)
    return out

if mode == "probes":
    for name, frames in probes():
        drain()
        for f in frames: s.send(f)
        got = capture(0.3)
        print(name, ",".join(g.hex() for g in got) or "-", flush=True)
        time.sleep(0.03)
elif mode == "flood":
    n, sources, gap = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
    drain()
    frames = []
    for k in range(n):
        S = socket.inet_aton("198.18.41.%d" % (1 + k % sources))
        frames.append(eth(ip(S, FW, 17, udp(S, FW, 50000, 1003, pattern(20)))))
    got = 0
    t0 = time.time()
    for f in frames:
        s.send(f)
        if gap: time.sleep(gap)
    got = len(capture(0.5))
    print("replies", got, "seconds", round(time.time() - t0, 3), flush=True)
"""#
}
