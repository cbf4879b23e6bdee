import Foundation

/// Gauges a part of the agent outside AgentHTTP keeps (the fleet follower: applied seq, lag,
/// connected), added to `/metrics` at each scrape. Values are read when scraped.
public final class ServiceGauges: @unchecked Sendable {
    public static let shared = ServiceGauges()
    private let lock = NSLock()
    private var gauges: [(name: String, help: String, type: String, value: @Sendable () -> Double)] = []

    /// `name` is the full metric name (e.g. `ebpf_iptables_fleet_applied_seq`).
    public func register(_ name: String, help: String, type: String = "gauge", value: @escaping @Sendable () -> Double) {
        lock.lock(); defer { lock.unlock() }
        gauges.removeAll { $0.name == name }
        gauges.append((name, help, type, value))
    }

    /// Prometheus text for every gauge registered.
    public func exposition() -> String {
        lock.lock(); let list = gauges; lock.unlock()
        var out = ""
        for g in list {
            let v = g.value()
            let text = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
            out += "# HELP \(g.name) \(g.help)\n# TYPE \(g.name) \(g.type)\n\(g.name) \(text)\n"
        }
        return out
    }
}
