import ChildProcess
import Glibc

/// A long-lived sender inside a namespace: one AF_PACKET socket bound to an interface,
/// fed one hex frame per line, answering "ok" per frame sent, so a test can send the
/// next probe only after it has read the verdict of the last.
public final class FrameSender: @unchecked Sendable {
    private var child: ChildProcess.Running

    /// How long one frame may take to be sent and acknowledged.
    static let answerDeadline: Duration = .seconds(10)

    static let script = """
    import socket, sys
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[1], 0))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        s.send(bytes.fromhex(line))
        sys.stdout.write("ok\\n")
        sys.stdout.flush()
    """

    public init(namespace: String, interface: String) throws {
        child = try ChildProcess.spawn(.init("ip", arguments: ["netns", "exec", namespace, "python3", "-c", Self.script, interface],
                                             stdin: .pipe))
    }

    deinit {
        // End of input ends the script's loop; the deadline covers a sender that is stuck.
        child.closeStdin()
        _ = try? child.wait(deadline: .seconds(2))
    }

    public func send(_ frame: [UInt8]) throws {
        if try acknowledged(frame) { return }
        let end = try child.wait(deadline: .seconds(2))
        throw Verification.Failure(description: "frame sender exited (status \(end.status)): \(end.stderrText)")
    }

    /// Whether the sender took `frame` and said it sent it; false once it has exited (its
    /// status and stderr then say why).
    private func acknowledged(_ frame: [UInt8]) throws(ChildProcessError) -> Bool {
        do {
            try child.write(Self.hexLine(frame), deadline: Self.answerDeadline)
        } catch {
            if error.errno == EPIPE { return false }
            throw error
        }
        return try child.readLine(deadline: Self.answerDeadline) != nil
    }

    /// `frame` as lowercase hex and a newline, the line the script reads.
    static func hexLine(_ frame: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var line: [UInt8] = []
        line.reserveCapacity(frame.count * 2 + 1)
        for b in frame {
            line.append(digits[Int(b >> 4)])
            line.append(digits[Int(b & 0xf)])
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }
}
