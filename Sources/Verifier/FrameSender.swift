import Foundation

/// A long-lived sender inside a namespace: one AF_PACKET socket bound to an interface,
/// fed one hex frame per line, answering "ok" per frame sent, so a test can send the
/// next probe only after it has read the verdict of the last.
public final class FrameSender: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered = Data()

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
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace, "python3", "-c", Self.script, interface]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
    }

    public func send(_ frame: [UInt8]) throws {
        let hex = frame.map { String(format: "%02x", $0) }.joined() + "\n"
        input.fileHandleForWriting.write(Data(hex.utf8))
        while !buffered.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw NSError(domain: "FrameSender", code: 1, userInfo: [NSLocalizedDescriptionKey: "sender exited"]) }
            buffered.append(chunk)
        }
        if let nl = buffered.firstIndex(of: UInt8(ascii: "\n")) { buffered.removeSubrange(...nl) }
    }
}

/// Packet counters of a namespace's filter table, read from `iptables-save -c`:
/// per (chain, 1-based rule index) and per built-in chain policy.
public struct KernelCounters: Equatable, Sendable {
    public var rules: [String: [UInt64]] = [:]
    public var policies: [String: UInt64] = [:]

    public static func read(namespace: String) -> KernelCounters {
        parse(Shell.run(["ip", "netns", "exec", namespace, "iptables-save", "-c", "-t", "filter"]).stdout)
    }

    public static func parse(_ text: String) -> KernelCounters {
        var c = KernelCounters()
        var inFilter = false
        for line in text.split(separator: "\n") {
            if line.hasPrefix("*") { inFilter = line == "*filter"; continue }
            guard inFilter else { continue }
            if line.hasPrefix(":") {
                let f = line.dropFirst().split(separator: " ")
                if f.count >= 3, f[1] != "-", let p = UInt64(f[2].dropFirst().split(separator: ":").first ?? "") {
                    c.policies[String(f[0])] = p
                }
            } else if line.hasPrefix("[") {
                let f = line.split(separator: " ")
                guard f.count >= 3, let p = UInt64(f[0].dropFirst().split(separator: ":").first ?? "") else { continue }
                c.rules[String(f[2]), default: []].append(p)
            }
        }
        return c
    }
}
