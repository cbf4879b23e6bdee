/// Packet counters of a namespace's iptables, read from `iptables-save -c`: per table, chain
/// and rule (1-based index i at [i - 1]) and per built-in chain policy.
public struct KernelCounters: Equatable, Sendable {
    /// table -> chain -> packets per rule, in order.
    public var tables: [String: [String: [UInt64]]] = [:]
    /// table -> built-in chain -> packets its policy decided.
    public var tablePolicies: [String: [String: UInt64]] = [:]

    public init() {}

    /// The filter table's chains.
    public var rules: [String: [UInt64]] { tables["filter"] ?? [:] }
    /// The filter table's policies.
    public var policies: [String: UInt64] { tablePolicies["filter"] ?? [:] }

    public func packets(_ table: String, _ chain: String, rule index: Int) -> UInt64 {
        guard let c = tables[table]?[chain], index >= 1, index <= c.count else { return 0 }
        return c[index - 1]
    }

    public func policy(_ table: String, _ chain: String) -> UInt64 { tablePolicies[table]?[chain] ?? 0 }

    /// The filter table's counters in `namespace`.
    public static func read(namespace: String) -> KernelCounters {
        parse(Shell.run(["ip", "netns", "exec", namespace, "iptables-save", "-c", "-t", "filter"]).stdout)
    }

    public static func parse(_ text: String) -> KernelCounters {
        var c = KernelCounters()
        var table: String?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("*") {
                table = String(line.dropFirst())
                continue
            }
            guard let t = table else { continue }
            if line.hasPrefix(":") {
                // :INPUT DROP [12:3456]
                let f = line.dropFirst().split(separator: " ")
                if f.count >= 3, f[1] != "-", let p = Self.packets(f[2]) {
                    c.tablePolicies[t, default: [:]][String(f[0])] = p
                }
            } else if line.hasPrefix("[") {
                // [12:3456] -A CHAIN ...
                let f = line.split(separator: " ", maxSplits: 3)
                guard f.count >= 3, f[1] == "-A", let p = Self.packets(f[0]) else { continue }
                c.tables[t, default: [:]][String(f[2]), default: []].append(p)
            } else if line == "COMMIT" {
                table = nil
            }
        }
        return c
    }

    /// `[PACKETS:BYTES]` -> PACKETS.
    static func packets(_ field: Substring) -> UInt64? {
        guard field.hasPrefix("["), let colon = field.firstIndex(of: ":") else { return nil }
        return UInt64(field[field.index(after: field.startIndex)..<colon])
    }
}
