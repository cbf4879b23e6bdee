import Foundation
import TestSupport
import XCTest

/// GET /metrics against traffic whose counts the test knows: echoes XDP drops for one rule,
/// a set of known size, edits counted with their latency.
final class MetricsEndpointTests: XCTestCase {
    func testMetricsFollowTrafficSetsAndEdits() throws {
        if let reason = AgentUnderTest.unavailableReason { throw XCTSkip(reason) }
        let agent = try AgentUnderTest(prefix: "metrics")
        defer { agent.close() }
        XCTAssertEqual(agent.request("POST", "/v1/sets", body: #"{"name":"few","type":"hash:ip"}"#).status, 201)
        XCTAssertEqual(agent.request("PUT", "/v1/sets/few/members", body: #"{"members":["198.18.3.1","198.18.3.2"]}"#).status, 200)
        XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT", body: #"{"rule":"-s 198.18.0.1 -p icmp -j DROP"}"#).status, 201)
        XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT", body: #"{"rule":"-p tcp --dport 22 -j ACCEPT"}"#).status, 201)
        for _ in 0..<3 { XCTAssertFalse(agent.pingFromPeer()) }

        let r = agent.request("GET", "/metrics", token: .readOnly)
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(r.headers.lowercased().contains("content-type: text/plain"), r.headers)
        let m = Exposition(r.body)
        let rule = "-A INPUT -s 198.18.0.1/32 -p icmp -j DROP"
        XCTAssertEqual(m.value("ebpf_iptables_rule_packets_total", ["table": "filter", "chain": "INPUT", "number": "1", "rule": rule, "layer": "xdp"]), 3, r.body)
        XCTAssertEqual(m.value("ebpf_iptables_rule_packets_total", ["table": "filter", "chain": "INPUT", "number": "1", "rule": rule, "layer": "kernel"]), 0)
        XCTAssertEqual(m.value("ebpf_iptables_rule_bytes_total", ["number": "1", "layer": "xdp"]), 3 * 84, "three echo requests of 84 bytes (IP total length, as iptables counts: 20 + 8 + 56)")
        XCTAssertEqual(m.value("ebpf_iptables_rule_packets_total", ["number": "2", "layer": "xdp"]), 0)
        XCTAssertEqual(m.value("ebpf_iptables_xdp_dropped_packets_total", [:]), 3)
        XCTAssertEqual(m.value("ebpf_iptables_xdp_attached", [:]), 1)
        XCTAssertEqual(m.value("ebpf_iptables_set_members", ["set": "few"]), 2)
        XCTAssertEqual(m.value("ebpf_iptables_edits_total", ["kind": "iptables", "outcome": "ok"]), 2)
        XCTAssertEqual(m.value("ebpf_iptables_edits_total", ["kind": "ipset", "outcome": "ok"]), 2)
        XCTAssertEqual(m.value("ebpf_iptables_edit_duration_seconds_count", ["kind": "iptables"]), 2)
        XCTAssertNotNil(m.value("ebpf_iptables_edit_duration_seconds_bucket", ["kind": "iptables", "le": "+Inf"]))
        XCTAssertNotNil(m.value("ebpf_iptables_policy_packets_total", ["chain": "INPUT", "layer": "kernel"]))
        XCTAssertNotNil(m.value("ebpf_iptables_bpf_stats_enabled", [:]))
        XCTAssertNotNil(m.value("ebpf_iptables_xdp_program_runs_total", [:]), "the program's run figures (kernel.bpf_stats_enabled decides whether they grow)")

        // A refused edit is counted as refused; the kernel's packets land in the kernel layer.
        XCTAssertEqual(agent.request("POST", "/v1/rules/filter/NOCHAIN", body: #"{"rule":"-j DROP"}"#).status, 422)
        XCTAssertEqual(agent.request("DELETE", "/v1/rules/filter/INPUT/1").status, 200)
        XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT", body: #"{"rule":"-s 198.18.0.1 -p icmp -j ACCEPT"}"#).status, 201)
        XCTAssertTrue(agent.pingFromPeer())
        let after = Exposition(agent.request("GET", "/metrics").body)
        XCTAssertEqual(after.value("ebpf_iptables_edits_total", ["kind": "iptables", "outcome": "refused"]), 1)
        XCTAssertEqual(after.value("ebpf_iptables_rule_packets_total", ["rule": "-A INPUT -s 198.18.0.1/32 -p icmp -j ACCEPT", "layer": "kernel"]), 1)
        XCTAssertNil(after.value("ebpf_iptables_rule_packets_total", ["rule": rule, "layer": "xdp"]), "a deleted rule's series goes")
        XCTAssertEqual(after.value("ebpf_iptables_xdp_dropped_packets_total", [:]), 3, "the program's own total stays")

        // What an edit costs in the agent, from its own histogram: 20 more appends and deletes.
        let start = ContinuousClock.now
        for i in 0..<10 {
            XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT", body: #"{"rule":"-s 198.18.77.\#(i + 1) -j DROP"}"#).status, 201)
            XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT/delete", body: #"{"rule":"-s 198.18.77.\#(i + 1) -j DROP"}"#).status, 200)
        }
        let wall = ContinuousClock.now - start
        let timed = Exposition(agent.request("GET", "/metrics").body)
        let count = timed.value("ebpf_iptables_edit_duration_seconds_count", ["kind": "iptables"]) ?? 0
        let sum = timed.value("ebpf_iptables_edit_duration_seconds_sum", ["kind": "iptables"]) ?? 0
        XCTAssertEqual(count, 2 + 1 + 2 + 20, "every iptables edit is timed, refused ones too")
        print(String(format: "REST edit latency: %.1f ms mean in the agent (histogram, %d edits); %.1f ms per request seen by curl (process start and TLS handshake included)",
                     sum / max(count, 1) * 1000, Int(count), Double(wall.components.seconds * 1000) / 20 + Double(wall.components.attoseconds) / 1e15 / 20))
    }
}

/// The Prometheus text exposition, read as samples: name, labels, value.
struct Exposition {
    struct Sample { var name: String; var labels: [String: String]; var value: Double }
    var samples: [Sample] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let s = String(line)
            guard let space = s.lastIndex(of: " "), let value = Double(s[s.index(after: space)...]) else { continue }
            let head = String(s[..<space])
            var labels: [String: String] = [:]
            var name = head
            if let brace = head.firstIndex(of: "{") {
                name = String(head[..<brace])
                labels = Self.labels(String(head[head.index(after: brace)..<head.index(before: head.endIndex)]))
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    /// `a="x",b="y \"q\""` with the format's escapes.
    static func labels(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        var i = s.startIndex
        while i < s.endIndex {
            guard let eq = s[i...].firstIndex(of: "=") else { break }
            let key = s[i..<eq].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var j = s.index(eq, offsetBy: 2)
            var value = ""
            while j < s.endIndex, s[j] != "\"" {
                if s[j] == "\\", s.index(after: j) < s.endIndex {
                    j = s.index(after: j)
                    value.append(s[j] == "n" ? "\n" : s[j])
                } else {
                    value.append(s[j])
                }
                j = s.index(after: j)
            }
            out[key] = value
            i = j < s.endIndex ? s.index(after: j) : j
        }
        return out
    }

    /// The one sample of `name` whose labels include `labels`; nil when none.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }?.value
    }
}
