import Foundation

/// `--name value` options of the subcommands scripts/bench calls; everything after `--`
/// is kept as a command line of its own.
struct CommandLineOptions {
    private var values: [String: String] = [:]
    /// The words after `--`.
    var trailing: [String] = []

    init(_ words: [String], usage: String) throws {
        var i = 0
        while i < words.count {
            let w = words[i]
            if w == "--" {
                trailing = Array(words[(i + 1)...])
                break
            }
            guard w.hasPrefix("--"), i + 1 < words.count else { throw BenchError(description: "\(w): \(usage)") }
            values[String(w.dropFirst(2))] = words[i + 1]
            i += 2
        }
    }

    func string(_ name: String) throws -> String {
        guard let v = values[name] else { throw BenchError(description: "missing --\(name)") }
        return v
    }

    func optional(_ name: String) -> String? { values[name] }

    func int(_ name: String, default d: Int? = nil) throws -> Int {
        guard let text = values[name] else {
            if let d { return d }
            throw BenchError(description: "missing --\(name)")
        }
        guard let v = Int(text) else { throw BenchError(description: "--\(name) \(text): not a number") }
        return v
    }

    func double(_ name: String, default d: Double) throws -> Double {
        guard let text = values[name] else { return d }
        guard let v = Double(text) else { throw BenchError(description: "--\(name) \(text): not a number") }
        return v
    }

    /// A dotted quad, host order.
    func address(_ name: String) throws -> UInt32 {
        let text = try string(name)
        let parts = text.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 < 256 }) else { throw BenchError(description: "--\(name) \(text): not an IPv4 address") }
        return parts.reduce(0) { $0 << 8 | $1 }
    }
}

extension CommandLineOptions {
    /// An IPv6 address, its 16 bytes.
    func address6(_ name: String) throws -> [UInt8] {
        let text = try string(name)
        guard let b = ipv6Bytes(text) else { throw BenchError(description: "--\(name) \(text): not an IPv6 address") }
        return b
    }
}

/// "aa:bb:cc:dd:ee:ff" -> six bytes.
func macBytes(_ text: String) throws -> [UInt8] {
    let bytes = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { UInt8($0, radix: 16) }
    guard bytes.count == 6 else { throw BenchError(description: "\(text): not a MAC address") }
    return bytes
}

/// The MAC address of `interface` in this process's network namespace.
func interfaceMAC(_ interface: String) throws -> [UInt8] {
    try macBytes(String(contentsOfFile: "/sys/class/net/\(interface)/address", encoding: .utf8))
}

extension UDPFrame {
    /// The frame with the receiving interface's MAC as destination, so that the kernel
    /// delivers it to the local stack instead of dropping it as PACKET_OTHERHOST.
    func bytes(destinationMAC mac: [UInt8]) -> [UInt8] {
        var b = bytes
        b.replaceSubrange(0..<6, with: mac)
        return b
    }
}
