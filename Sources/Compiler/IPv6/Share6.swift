import Foundation

extension CompileResult6 {
    /// The IPv6 XDP share as `migrate --format json` reports it for IPv4 (scripts/xdp-share):
    /// the positions of filter INPUT and the chains it reaches that XDP decides itself
    /// (accept, drop) and those left to the kernel, each with why.
    public func shareJSON(source: String) -> String {
        let input = origins.filter { $0.rule?.table == "filter" }
        let xdp = input.filter { $0.verdict != .kernel }.count
        var rules: [[String: String]] = []
        for o in input {
            guard let r = o.rule else { continue }
            rules.append(["chain": r.chain, "index": "\(r.index)", "scope": "input",
                          "layer": o.verdict == .kernel ? "kernel" : "xdp",
                          "verdict": o.verdict == .kernel ? "kernel" : (o.verdict == .drop ? "drop" : "accept"),
                          "reason": o.verdict == .kernel ? "ipv6" : "", "detail": o.reason])
        }
        let object: [String: Any] = [
            "source": source, "family": "ipv6",
            "input_layers": ["xdp": xdp, "kernel": input.count - xdp],
            "rules": rules, "notes": notes,
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
