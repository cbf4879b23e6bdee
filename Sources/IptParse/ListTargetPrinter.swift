/// The targets' `-L` renderings (each extension's print function in libxtables), from the
/// canonical options the parser keeps; a target whose rendering we do not know is refused.
extension ListMatchPrinter {
    func target(_ t: Target) throws(ListPrinter.Unsupported) -> String {
        switch t {
        case .accept, .drop, .return, .queue, .jump, .goto:
            return ""
        case .reject(let r):
            return " reject-with \(r.with)"
        case .log(let l):
            var s = " LOG"
            if numeric {
                var flags = 0
                if l.tcpSequence { flags |= 1 }
                if l.tcpOptions { flags |= 2 }
                if l.ipOptions { flags |= 4 }
                if l.uid { flags |= 8 }
                if l.macDecode { flags |= 0x20 }
                s += " flags \(flags) level \(l.level)"
            } else {
                let names = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"]
                s += l.level < 8 ? " level \(names[Int(l.level)])" : " UNKNOWN level \(l.level)"
                if l.tcpSequence { s += " tcp-sequence" }
                if l.tcpOptions { s += " tcp-options" }
                if l.ipOptions { s += " ip-options" }
                if l.uid { s += " uid" }
                if l.macDecode { s += " macdecode" }
            }
            if let p = l.prefix, !p.isEmpty { s += " prefix \"\(p)\"" }
            return s
        case .opaque(let e):
            return try opaqueTarget(e)
        }
    }


    func opaqueTarget(_ e: ExtensionCall) throws(ListPrinter.Unsupported) -> String {
        if let s = ExtensionForms.listTarget(e) { return s }
        if let s = ListFormsMZ1.target(e, numeric: numeric) { return s }
        func flags(_ names: [String]) -> String {
            names.filter { n in e.options.contains { $0.name == n } }.map { " " + $0 }.joined()
        }
        let known: [String: Set<String>] = [
            "DNAT": ["to-destination", "random", "random-fully", "persistent"],
            "SNAT": ["to-source", "random", "random-fully", "persistent"],
            "MASQUERADE": ["to-ports", "random", "random-fully"], "REDIRECT": ["to-ports", "random"],
            "MARK": ["set-xmark"], "TCPMSS": ["clamp-mss-to-pmtu", "set-mss"], "CT": ["notrack"],
        ]
        guard let allowed = known[e.name], e.options.allSatisfy({ allowed.contains($0.name) && !$0.negated }) else {
            throw .init("target '\(e.name)'")
        }
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        switch e.name {
        case "DNAT", "SNAT":
            let to = e.options.filter { $0.name.hasPrefix("to-") }.compactMap(\.args.first).map { " to:" + $0 }.joined()
            return to + flags(["random", "random-fully", "persistent"])
        case "MASQUERADE":
            return (arg("to-ports").map { " masq ports: " + $0 } ?? "") + flags(["random", "random-fully"])
        case "REDIRECT":
            return (arg("to-ports").map { " redir ports " + $0 } ?? "") + flags(["random"])
        case "MARK":
            return try markTarget(arg("set-xmark") ?? "")
        case "TCPMSS":
            if let mss = arg("set-mss") { return " TCPMSS set \(mss)" }
            return " TCPMSS clamp to PMTU"
        default:
            return " CT notrack"
        }
    }

    /// libxt_MARK v2 names the operation the canonical `--set-xmark value/mask` stands for.
    func markTarget(_ xmark: String) throws(ListPrinter.Unsupported) -> String {
        let parts = xmark.split(separator: "/").map { UInt32($0.dropFirst(2), radix: 16) }
        guard parts.count == 2, let v = parts[0], let m = parts[1] else { throw .init("MARK --set-xmark \(xmark)") }
        func hex(_ x: UInt32) -> String { "0x" + String(x, radix: 16) }
        if v == 0 { return " MARK and " + hex(~m) }
        if v == m { return " MARK or " + hex(v) }
        if m == 0 { return " MARK xor " + hex(v) }
        if m == 0xffff_ffff { return " MARK set " + hex(v) }
        return " MARK xset " + hex(v) + "/" + hex(m)
    }
}
