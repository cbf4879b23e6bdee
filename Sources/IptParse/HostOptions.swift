/// Target options that take a host, resolved as libxtables resolves them (getaddrinfo,
/// which also reads inet_aton's forms: `010.1.1.1` is 8.1.1.1) and printed as iptables-save
/// prints them (verified with iptables 1.8.9 nf_tables):
/// - TEE `--gateway HOST` (XTTYPE_HOST): exactly one address (`localhost` is 127.0.0.1);
/// - NETMAP `--to HOST[/MASK]` (XTTYPE_HOSTMASK): the address masked, the length always
///   printed (`--to 10.1.2.3` is `10.1.2.3/32`, `--to localhost/24` is `127.0.0.0/24`).
extension OpaqueCanonicalizer {
    static func hostOptions(_ opts: [ExtensionOption], target: String, family: Family, parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        var out = opts
        for (i, o) in opts.enumerated() {
            guard let arg = o.args.first, (target == "TEE" && o.name == "gateway") || (target == "NETMAP" && o.name == "to") else { continue }
            let w = Word(arg, column: word.column, length: word.length)
            let (host, maskText) = target == "NETMAP" ? AddressParser.split(arg) : (arg[...], nil)
            let found = HostNames.addresses(String(host), family: family)
            guard let addr = found.first else {
                throw AddressParser.notFound(host, w: w, family: family, source: parser.source)
            }
            guard found.count == 1 else {
                throw parser.fail("ambiguous-host", "'\(host)' resolves to more than one address (\(found.count)), and --\(o.name) takes one", word)
            }
            if target == "TEE" {
                out[i].args = [IPAddressText.format(addr, family: family)]
            } else {
                let mask = try AddressParser.mask(maskText, w: w, family: family, source: parser.source)
                out[i].args = [AddressParser.prefix(addr, mask, family: family).saveText]
            }
        }
        return out
    }
}
