import Foundation

/// Options whose value may be a name that iptables turns into a number before storing it
/// (the kernel keeps only the number, so iptables-save prints the number): TOS names,
/// user and group names. Each mirrors the libxt_*.c parser it names, messages included
/// (iptables' own words, so a refused command reads as iptables' refusal).
enum NamedValues {
    /// libxt_tos/libxt_TOS's symbolic names (tos_values.c).
    static let tosNames: [(String, UInt8)] = [
        ("Minimize-Cost", 0x02), ("Maximize-Reliability", 0x04), ("Maximize-Throughput", 0x08),
        ("Minimize-Delay", 0x10), ("Normal-Service", 0x00),
    ]

    enum TOSError: Error, Equatable {
        /// The numeric form went wrong after its first number: `Illegal value: "X"`.
        case illegal
        /// Neither a number nor a name: `Symbolic name "X" is unknown`.
        case unknownName
    }

    /// tos_parse_symbolic: `value[/mask]` (strtoul base 0, at most 0xff each; the mask
    /// 0xff when absent), else a name (any case) with mask 0x3f (the ECN bits left alone).
    static func tos(_ text: String) -> Result<(value: UInt8, mask: UInt8), TOSError> {
        if let v = CNumbers.strtouiPrefix(Substring(text), max: 0xff) {
            var mask: UInt64 = 0xff
            var tail = v.rest
            if tail.first == "/" {
                guard let m = CNumbers.strtouiPrefix(tail.dropFirst(), max: 0xff) else { return .failure(.illegal) }
                mask = m.value
                tail = m.rest
            }
            guard tail.isEmpty else { return .failure(.illegal) }
            return .success((UInt8(v.value), UInt8(mask)))
        }
        if let n = tosNames.first(where: { $0.0.caseInsensitiveCompare(text) == .orderedSame }) {
            return .success((n.1, 0x3f))
        }
        return .failure(.unknownName)
    }

    static func tosText(_ v: UInt8, _ m: UInt8) -> String { String(format: "0x%02x/0x%02x", v, m) }

    /// libxt_owner's --uid-owner/--gid-owner: a name known to the system's passwd/group
    /// (getpwnam/getgrnam, as iptables asks), else `from[-:]to` (strtoul base 0, at most
    /// 2^32-2 each: -1 is reserved). Printed as `from` or `from-to`. nil: refused.
    static func ownerRange(_ text: String, group: Bool) -> String? {
        if let id = group ? groupID(text) : userID(text) { return "\(id)" }
        guard let f = CNumbers.strtouiPrefix(Substring(text), max: 0xffff_fffe) else { return nil }
        let from = f.value
        var to = from
        var tail = f.rest
        if tail.first == "-" || tail.first == ":" {
            guard let t = CNumbers.strtouiPrefix(tail.dropFirst(), max: 0xffff_fffe) else { return nil }
            to = t.value
            tail = t.rest
        }
        guard tail.isEmpty else { return nil }
        return from == to ? "\(from)" : "\(from)-\(to)"
    }

    static func userID(_ name: String) -> UInt32? {
        guard !name.isEmpty, let p = getpwnam(name) else { return nil }
        return p.pointee.pw_uid
    }

    static func groupID(_ name: String) -> UInt32? {
        guard !name.isEmpty, let g = getgrnam(name) else { return nil }
        return g.pointee.gr_gid
    }
}

extension OpaqueCanonicalizer {
    /// `-m tos --tos X` as iptables-save prints it: `0xVV/0xMM`.
    static func tosValue(_ text: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        switch NamedValues.tos(text) {
        case .success(let t): return NamedValues.tosText(t.value, t.mask)
        case .failure(.illegal): throw parser.fail("xt-message", "Illegal value: \"\(text)\"", word)
        case .failure(.unknownName): throw parser.fail("xt-message", "Symbolic name \"\(text)\" is unknown", word)
        }
    }

    /// `-j TOS`: one of --set-tos, --and-tos, --or-tos, --xor-tos, stored as a value and a
    /// mask and printed as `--set-tos 0xVV/0xMM` (libxt_TOS tos_tg_save): --and-tos B is
    /// 0/~B, --or-tos B is B/B, --xor-tos B is B/0; the three take a number only.
    static func tosTarget(_ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> ExtensionOption {
        guard let o = opts.first else { throw parser.fail("xt-message", "TOS: An action is required", word) }
        if opts.count > 1 {
            throw parser.fail("xt-message-nl", "TOS: option \"--\(o.name)\" cannot be used together with \"--\(opts[1].name)\".", word)
        }
        if o.name == "set-tos" {
            return ExtensionOption("set-tos", args: [try tosValue(o.args[0], parser: parser, word: word)])
        }
        guard let b = CNumbers.strtoui(Substring(o.args[0]), max: 0xff).map(UInt8.init) else {
            throw parser.fail("xt-message-nl", "TOS: bad value for option \"--\(o.name)\", or out of range (0-255).", word)
        }
        let (v, m): (UInt8, UInt8) = o.name == "and-tos" ? (0, ~b) : o.name == "or-tos" ? (b, b) : (b, 0)
        return ExtensionOption("set-tos", args: [NamedValues.tosText(v, m)])
    }

    /// `-m owner`: user and group names as their numbers, ranges as `from-to`, in
    /// libxt_owner's print order (socket-exists, uid-owner, gid-owner, suppl-groups, the
    /// catalog's); --suppl-groups only after --gid-owner, at least one test.
    static func owner(_ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        var out = opts
        for (i, o) in out.enumerated() where o.name == "uid-owner" || o.name == "gid-owner" {
            guard let v = NamedValues.ownerRange(o.args[0], group: o.name == "gid-owner") else {
                throw parser.fail("xt-message", "owner: Bad value for \"--\(o.name)\" option: \"\(o.args[0])\"", word)
            }
            out[i].args = [v]
        }
        guard out.contains(where: { ["uid-owner", "gid-owner", "socket-exists"].contains($0.name) }) else {
            throw parser.fail("xt-message", "owner: At least one of --uid-owner, --gid-owner or --socket-exists is required", word)
        }
        return out
    }
}
