/// ipset 7.17's wording for what the parser diagnosed. The parser's own messages
/// point at a file position; the command line must print what ipset prints, because
/// scripts compare them (the kernel's errcode.c texts and libipset's "Syntax error"s).
public enum IpsetMessages {
    /// The program name and version ipset prefixes its errors with.
    public static let prefix = "ipset v7.17: "
    public static let hint = "Try `ipset help' for more information."

    /// ipset's message for a diagnostic of the restore-line parser; `usage` is true for
    /// ipset's parameter problems (exit status 2 with the hint).
    public static func message(for d: Diagnostic, family: IpsetFamily?) -> IpsetUsageError {
        let w = word(d)
        func syntax(_ s: String) -> IpsetUsageError { IpsetUsageError("Syntax error: " + s, usage: false) }
        func kernel(_ s: String) -> IpsetUsageError { IpsetUsageError(s, usage: false) }
        let v6 = family == .inet6
        switch d.id {
        case "undefined-set": return kernel("The set with the given name does not exist")
        case "undefined-member-set": return kernel("Set to be added/deleted/tested as element does not exist.")
        case "undefined-second-set": return kernel("Sets cannot be swapped: the second set does not exist")
        case "rename-exists": return kernel("Set cannot be renamed: a set with the new name already exists")
        case "swap-type-mismatch": return kernel("The sets cannot be swapped: their type does not match")
        case "duplicate-member": return kernel("Element cannot be added to the set: it's already added")
        case "missing-member": return kernel("Element cannot be deleted from the set: it's not added")
        case "duplicate-create": return kernel("Set cannot be created: set with the same name already exists")
        case "set-in-use": return kernel("Set cannot be destroyed: it is in use by a kernel component")
        case "set-full": return kernel("Hash is full, cannot add more elements")
        case "out-of-range": return kernel("Element is out of the range of the set")
        case "timeout-not-enabled": return kernel("Timeout cannot be used: set was created without timeout support")
        case "counters-not-enabled":
            return kernel("Packet/byte counters cannot be used: set was created without counter support")
        case "comment-not-enabled": return kernel("Comment cannot be used: set was created without comment support")
        case "skbinfo-not-enabled": return kernel("Skbinfo mapping cannot be used: set was created without skbinfo support")
        case "unknown-option": return IpsetUsageError("Unknown argument: `\(w)'")
        case "unexpected-word": return IpsetUsageError("Unknown argument \(w)")
        case "unknown-command": return IpsetUsageError("No command specified: unknown argument \(w)")
        case "missing-value": return IpsetUsageError("Missing mandatory argument of option `\(quoted(d.message) ?? w)'")
        case "missing-set-name", "missing-set-type", "missing-entry":
            return IpsetUsageError("Missing second mandatory argument to command \(firstWord(d))")
        case "unknown-set-type": return syntax("typename '\(w)' is unknown")
        case "bad-family": return syntax("unknown inet family \(w)")
        case "bad-set-name": return syntax("setname '\(w)' is longer than 31 characters")
        case "bad-number", "bad-skbinfo":
            if isInteger(w), let max = d.message.range(of: " to ").map({ d.message[$0.upperBound...].prefix { $0.isNumber } }) {
                return syntax("'\(w)' is out of range 0-\(max)")
            }
            return syntax("'\(w)' is invalid as number")
        case "bad-address":
            return syntax("cannot parse \(w): resolving to \(v6 ? "IPv6" : "IPv4") address failed")
        case "bad-prefix":
            if w == "0" { return kernel("The value of the CIDR parameter of the IP address is invalid") }
            return syntax("'\(w)' is out of range 0-\(v6 ? 128 : 32)")
        case "ip-range": return syntax("plain IP address must be supplied: \(w)")
        case "bad-entry-shape": return syntax("Second element is missing from \(w).")
        case "bad-protocol-family":
            // libipset also complains about the command it could not finish.
            let verb = ["add", "del", "test"].contains(firstWord(d)) ? firstWord(d) : "test"
            // ipset 7.17's test path loses the message and prints its internal-error text.
            if verb == "test" {
                return kernel("There are missing mandatory flags but can't check them. It's a bug, please report the problem.")
            }
            let which = v6 ? "ICMP can be used with family inet" : "ICMPv6 can be used with family inet6"
            return syntax("Protocol \(which) only\nInvalid \(verb) command: missing setname")
        case "unknown-protocol": return syntax("cannot parse '\(w)' as a protocol")
        case "bad-port":
            // libipset tries the word as a number, then as "proto:port", and reports both.
            let proto = protocolBefore(d) ?? "tcp"
            if isInteger(w) {
                return syntax("'\(w)' is out of range 0-65535\nSyntax error: '\(proto)' is invalid as number\ncannot parse '\(w)' as a \(proto) port")
            }
            return syntax("cannot parse '\(w)' as a \(proto) port")
        default: return syntax(d.message)
        }
    }

    /// The word the diagnostic points at (columns are 1-based characters).
    static func word(_ d: Diagnostic) -> String {
        let chars = Array(d.location.column > 0 ? d.sourceLine : "")
        let start = d.location.column - 1
        guard start >= 0 && start < chars.count else { return "" }
        return String(chars[start..<min(chars.count, start + d.location.length)])
    }

    static func firstWord(_ d: Diagnostic) -> String {
        String(d.sourceLine.split(separator: " ").first ?? "")
    }

    /// `tcp` of `1.2.3.4,tcp:99999` when the diagnostic points at the port.
    static func protocolBefore(_ d: Diagnostic) -> String? {
        let chars = Array(d.sourceLine)
        var i = d.location.column - 2
        guard i >= 0, i < chars.count, chars[i] == ":" else { return nil }
        var s = ""
        i -= 1
        while i >= 0, chars[i] != ",", chars[i] != " " {
            s = String(chars[i]) + s
            i -= 1
        }
        return s
    }

    static func quoted(_ m: String) -> String? {
        guard let a = m.firstIndex(of: "'"), let b = m[m.index(after: a)...].firstIndex(of: "'") else { return nil }
        return String(m[m.index(after: a)..<b])
    }

    static func isInteger(_ w: String) -> Bool {
        let digits = w.hasPrefix("-") ? w.dropFirst() : Substring(w)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
