import Foundation
import TestSupport

/// A paced packet train from the generator namespace: `count` frames at `rate` per second,
/// cycling through `frames`, each sent on every given generator-side interface one right
/// after the other (so the receivers see the same train at the same times). A python3
/// child with one AF_PACKET socket per interface; bounded by `count` and a deadline.
struct PacedTrain {
    var rate: Double
    var count: Int
    var frames: [[UInt8]]

    static let script = """
    import socket, sys, time
    rate = float(sys.argv[1]); count = int(sys.argv[2]); names = sys.argv[3:]
    frames = [bytes.fromhex(l.strip()) for l in sys.stdin if l.strip()]
    socks = []
    for name in names:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((name, 0))
        socks.append(s)
    start = time.monotonic()
    late = 0
    for i in range(count):
        due = start + i / rate
        while True:
            now = time.monotonic()
            if now >= due:
                break
            if due - now > 0.002:
                time.sleep(due - now - 0.001)
        if now - due > 0.005:
            late += 1
        f = frames[i % len(frames)]
        for s in socks:
            s.send(f)
    print("%d %.4f" % (late, time.monotonic() - start))
    """

    /// Sends the train; returns how many frames left more than 5 ms late, and the duration.
    func send(namespace: String, interfaces: [String]) throws -> (late: Int, seconds: Double) {
        let hex = frames.map { $0.map { String(format: "%02x", $0) }.joined() }.joined(separator: "\n") + "\n"
        let r = Run.run(["ip", "netns", "exec", namespace, "python3", "-c", Self.script, String(rate), String(count)] + interfaces,
                        stdin: hex)
        let w = r.stdout.split(separator: " ")
        guard r.status == 0, w.count == 2, let late = Int(w[0]), let s = Double(w[1].trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw LabError("paced train: \(r.stderr)")
        }
        return (late, s)
    }
}
