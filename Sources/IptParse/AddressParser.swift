/// `-s`/`-d` arguments: a comma list of `address[/prefix|/mask]`, where an address may be a
/// host or network name that iptables resolves (HostNames) into one rule per address.
enum AddressParser {
    static func parseList(_ w: Word, family: Family, source: WordSource) throws(Diagnostic) -> [(IPPrefix, Word)] {
        if !w.text.utf8.contains(UInt8(ascii: ",")) { return try item(w, family: family, source: source).map { ($0, w) } }
        var out: [(IPPrefix, Word)] = []
        var col = w.column
        for item in w.text.split(separator: ",", omittingEmptySubsequences: false) {
            let iw = Word(String(item), column: col, length: max(1, item.count))
            col += item.count + 1
            out += try self.item(iw, family: family, source: source).map { ($0, iw) }
        }
        return out
    }

    /// One item of a `-s`/`-d` list, as `xtables_ipparse_multiple` reads it: the mask first
    /// (a bad mask is reported before a bad address), a zero mask makes any name `0.0.0.0`
    /// ("any/0"), then the address: numeric, else a name, which may stand for several
    /// addresses, each masked.
    static func item(_ w: Word, family: Family, source: WordSource) throws(Diagnostic) -> [IPPrefix] {
        let (host, maskText) = split(w.text)
        let mask = try self.mask(maskText, w: w, family: family, source: source)
        if case .length(0) = mask { return [IPPrefix(family: family, address: [UInt8](repeating: 0, count: family == .ipv4 ? 4 : 16), prefixLength: 0)] }
        if let addr = IPAddressText.parse(host, family: family) { return [prefix(addr, mask, family: family)] }
        let found = HostNames.listItem(String(host), family: family)
        guard !found.isEmpty else { throw notFound(host, w: w, family: family, source: source) }
        return found.map { prefix($0, mask, family: family) }
    }

    /// A single address with an optional mask (conntrack's `--ctorigsrc` ...): four numbers,
    /// else what getaddrinfo makes of it, which must be exactly one address.
    static func parse(_ w: Word, family: Family, source: WordSource) throws(Diagnostic) -> IPPrefix {
        try single(w, family: family, source: source).prefix
    }

    /// `parse`, with the address as given, before the mask: conntrack keeps and prints it so
    /// (`--ctorigsrc 192.0.2.7/24` stays that in iptables-save).
    static func single(_ w: Word, family: Family, source: WordSource) throws(Diagnostic) -> (address: [UInt8], prefix: IPPrefix) {
        let (host, maskText) = split(w.text)
        let numeric = family == .ipv4 ? IPAddressText.parseStrictIPv4(host) : IPAddressText.parse(host, family: family)
        let found = numeric.map { [$0] } ?? HostNames.addresses(String(host), family: family)
        guard let addr = found.first else { throw notFound(host, w: w, family: family, source: source) }
        guard found.count == 1 else {
            throw source.diagnostic("ambiguous-host", "'\(host)' resolves to more than one address (\(found.count)), and this option takes one", at: w)
        }
        return (addr, prefix(addr, try mask(maskText, w: w, family: family, source: source), family: family))
    }

    enum Mask {
        case length(Int)
        case bytes([UInt8])
    }

    static func split(_ text: String) -> (Substring, Substring?) {
        guard let slash = text.utf8.lastIndex(of: UInt8(ascii: "/")) else { return (text[...], nil) }
        return (text[..<slash], text[text.index(after: slash)...])
    }

    static func prefix(_ addr: [UInt8], _ mask: Mask, family: Family) -> IPPrefix {
        switch mask {
        case .length(let n): IPPrefix(family: family, address: addr, prefixLength: n)
        case .bytes(let m): IPPrefix(family: family, address: addr, mask: m)
        }
    }

    static func mask(_ m: Substring?, w: Word, family: Family, source: WordSource) throws(Diagnostic) -> Mask {
        guard let m else { return .length(family.maxPrefix) }
        if let first = m.utf8.first, first >= 48, first <= 57, let len = Int(m) {
            guard len <= family.maxPrefix else {
                throw source.diagnostic("bad-prefix", "prefix length \(len) is out of range (0-\(family.maxPrefix))", at: w)
            }
            return .length(len)
        }
        if let mask = IPAddressText.parse(m, family: family), family == .ipv4 ? m.contains(".") : m.contains(":") {
            return mask.allSatisfy({ $0 == 0 }) ? .length(0) : .bytes(mask)
        }
        throw source.diagnostic("bad-prefix", "expected a prefix length or a mask after '/', got '\(m)'", at: w)
    }

    /// Neither an address nor a name the resolver knows (iptables: "host/network `X' not found").
    static func notFound(_ host: Substring, w: Word, family: Family, source: WordSource) -> Diagnostic {
        let kind = family == .ipv4 ? "an IPv4 address" : "an IPv6 address"
        // A name has letters and is not a dotted quad with a typo in it (198.51.100.x).
        let labels = host.split(separator: ".")
        let numeric = labels.filter { $0.allSatisfy(\.isNumber) }.count
        let looksLikeName = host.contains { $0.isLetter } && !host.contains(":") && numeric < 2
        if looksLikeName {
            return source.diagnostic("hostname", "expected \(kind) or a host name, got '\(host)', which the resolver does not know (/etc/hosts, DNS\(family == .ipv4 ? ", /etc/networks" : ""))", at: w)
        }
        return source.diagnostic("bad-address", "expected \(kind), got '\(host)'", at: w)
    }

    /// A bare address (no mask), as iprange and conntrack take them.
    static func address(_ s: Substring, family: Family) -> [UInt8]? {
        family == .ipv4 ? IPAddressText.parseStrictIPv4(s) : IPAddressText.parseIPv6(s)
    }
}
