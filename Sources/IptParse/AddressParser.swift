/// `-s`/`-d` arguments: a comma list of `address[/prefix|/mask]`.
enum AddressParser {
    static func parseList(_ w: Word, family: Family, source: WordSource) throws(Diagnostic) -> [(IPPrefix, Word)] {
        if !w.text.utf8.contains(UInt8(ascii: ",")) { return [(try parse(w, family: family, source: source), w)] }
        var out: [(IPPrefix, Word)] = []
        var col = w.column
        for item in w.text.split(separator: ",", omittingEmptySubsequences: false) {
            let iw = Word(String(item), column: col, length: max(1, item.count))
            col += item.count + 1
            out.append((try parse(iw, family: family, source: source), iw))
        }
        return out
    }

    static func parse(_ w: Word, family: Family, source: WordSource) throws(Diagnostic) -> IPPrefix {
        let text = w.text
        let parts: [Substring]
        if let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) {
            parts = [text[..<slash], text[text.index(after: slash)...]]
        } else {
            parts = [text[...]]
        }
        let host = parts[0]
        let kind = family == .ipv4 ? "an IPv4 address" : "an IPv6 address"
        guard let addr = IPAddressText.parse(host, family: family) else {
            // A name has letters and is not a dotted quad with a typo in it (198.51.100.x).
            let labels = host.split(separator: ".")
            let numeric = labels.filter { $0.allSatisfy(\.isNumber) }.count
            let looksLikeName = host.contains { $0.isLetter } && !host.contains(":") && numeric < 2
            if looksLikeName {
                throw source.diagnostic("hostname", "expected \(kind), got the hostname '\(host)': hostnames are refused, because iptables would resolve them once at load time", at: w)
            }
            throw source.diagnostic("bad-address", "expected \(kind), got '\(host)'", at: w)
        }
        guard parts.count == 2 else { return IPPrefix(family: family, address: addr, prefixLength: family.maxPrefix) }
        let m = parts[1]
        if let first = m.utf8.first, first >= 48, first <= 57, let len = Int(m) {
            guard len <= family.maxPrefix else {
                throw source.diagnostic("bad-prefix", "prefix length \(len) is out of range (0-\(family.maxPrefix))", at: w)
            }
            return IPPrefix(family: family, address: addr, prefixLength: len)
        }
        if let mask = IPAddressText.parse(m, family: family), family == .ipv4 ? m.contains(".") : m.contains(":") {
            return IPPrefix(family: family, address: addr, mask: mask)
        }
        throw source.diagnostic("bad-prefix", "expected a prefix length or a mask after '/', got '\(m)'", at: w)
    }

    /// A bare address (no mask), as iprange and conntrack take them.
    static func address(_ s: Substring, family: Family) -> [UInt8]? {
        family == .ipv4 ? IPAddressText.parseStrictIPv4(s) : IPAddressText.parseIPv6(s)
    }
}
