import ChildProcess
import Foundation
import TestSupport

/// Sends one frame on several interfaces of the generator namespace, one right after the
/// other, and acknowledges it: a python3 child with one AF_PACKET socket per interface, fed
/// one hex frame per line. The receivers share their MAC address, so the same bytes reach
/// each; sending to all in one go keeps time-dependent matches (limit) as alike as possible.
final class ProbeSender {
    private var child: ChildProcess.Running

    static let script = """
    import socket, sys
    socks = []
    for name in sys.argv[1:]:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((name, 0))
        socks.append(s)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        frame = bytes.fromhex(line)
        for s in socks:
            s.send(frame)
        sys.stdout.write("ok\\n")
        sys.stdout.flush()
    """

    init(namespace: String, interfaces: [String]) throws {
        child = try ChildProcess.spawn(.init("ip", arguments: ["netns", "exec", namespace, "python3", "-c", Self.script] + interfaces,
                                             stdin: .pipe))
    }

    deinit {
        child.closeStdin()
        _ = try? child.wait(deadline: .seconds(2))
    }

    func send(_ frame: [UInt8]) throws {
        let hex = frame.map { String(format: "%02x", $0) }.joined() + "\n"
        try child.write(Array(hex.utf8), deadline: .seconds(10))
        guard try child.readLine(deadline: .seconds(10)) != nil else {
            let end = try child.wait(deadline: .seconds(2))
            throw LabError("probe sender exited (status \(end.status)): \(end.stderrText)")
        }
    }
}
