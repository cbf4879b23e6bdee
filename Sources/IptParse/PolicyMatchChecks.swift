/// libxt_policy's final check (policy_check), then libxtables' "also requires" for `--next`
/// (libxtables runs the extension's check first), then the kernel's xt_policy checkentry for
/// the built-in chains. Words are iptables 1.8.9's.
enum PolicyMatchChecks {
    static let elementOptions: Set<String> = ["reqid", "spi", "tunnel-src", "tunnel-dst", "proto", "mode"]

    static func final(_ e: LoadedExtension, parser: CommandLineParser) throws(Diagnostic) {
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, e.word) }
        let dir = e.given.last { $0.option.name == "dir" }?.args.first?.text
        let none = e.given.last { $0.option.name == "pol" }?.args.first?.text == "none"
        let strict = e.given.contains { $0.option.name == "strict" }
        let nexts = e.given.filter { $0.option.name == "next" }.count
        guard dir != nil else { throw xt("policy match: neither --dir in nor --dir out specified") }
        if none {
            if strict { throw xt("policy match: policy none but --strict given") }
            if nexts > 0 { throw xt("policy match: policy none but policy given") }
        } else {
            // One element per `--next`, and the last one.
            var elements: [[LoadedExtension.Given]] = [[]]
            for g in e.given {
                if g.option.name == "next" { elements.append([]) } else if elementOptions.contains(g.option.name) { elements[elements.count - 1].append(g) }
            }
            for (i, el) in elements.enumerated() {
                if strict && el.isEmpty {
                    throw xt("policy match: empty policy element \(i). --strict is in effect, but at least one of "
                             + "reqid, spi, tunnel-src, tunnel-dst, proto or mode is required.")
                }
                // Without --mode the element's mode is transport (XT_POLICY_MODE_TRANSPORT is 0).
                let mode = el.last { $0.option.name == "mode" }
                let tunnel = mode?.args.first?.text == "tunnel"
                let inverted = mode?.negated ?? false
                if el.contains(where: { $0.option.name.hasPrefix("tunnel-") }), tunnel == inverted {
                    throw xt("policy match: --tunnel-src/--tunnel-dst is only valid in tunnel mode")
                }
            }
        }
        if nexts > 0 && !strict { throw xt("policy: option \"--next\" also requires \"--strict\".\n") }
        // xt_policy's checkentry: no outbound policy where packets come in, no inbound one
        // where they go out (RULE_APPEND EINVAL). A user chain's hooks are the kernel's to see.
        let inbound = ["INPUT", "PREROUTING"], outbound = ["OUTPUT", "POSTROUTING"]
        if let c = parser.chain, (dir == "out" && inbound.contains(c)) || (dir == "in" && outbound.contains(c)) {
            throw ExtensionForms.kernelRefuses(parser, "policy --dir \(dir ?? "") in \(c)", e.word)
        }
    }
}
