import IptParse

/// iptables 1.8.9 (nf_tables)'s own words for every refusal, so scripts that grep
/// messages or test exit codes keep working: IptParse's diagnostics (written for files,
/// with file:line:column) and RulesetEdits' errors are mapped here to the text and
/// status iptables prints on a command line. Collected from the real iptables in a
/// namespace; fixtures/conformance/iptables replays them against both.
enum IptablesMessages {
    static let prefix = "iptables v1.8.9 (nf_tables): "
    static let hint = "Try `iptables -h' or 'iptables --help' for more information."

    /// A refusal: the whole stderr text (newline-terminated) and the exit status.
    struct Refusal: Error {
        var text: String
        var status: Int32
    }

    /// A parameter problem: prefix, message, (optional blank line), usage hint, exit 2.
    static func parameter(_ m: String, blankLine: Bool = false) -> Refusal {
        Refusal(text: prefix + m + "\n" + (blankLine ? "\n" : "") + hint + "\n", status: 2)
    }

    /// A problem the kernel reported (libiptc's strerror-like texts), exit 1.
    static func resource(_ m: String) -> Refusal {
        Refusal(text: "iptables: " + m + "\n", status: 1)
    }

    /// A netlink batch the kernel refused (exit 4), as nft-backed iptables words it.
    static func netlink(_ op: String, _ errno: String, _ object: String) -> Refusal {
        Refusal(text: prefix + " \(op) failed (\(errno)): \(object)\n", status: 4)
    }

    static let shortNames: [String: String] = [
        "--append": "-A", "--check": "-C", "--delete": "-D", "--insert": "-I", "--replace": "-R", "--list": "-L",
        "--list-rules": "-S", "--flush": "-F", "--zero": "-Z", "--new-chain": "-N", "--delete-chain": "-X",
        "--policy": "-P", "--rename-chain": "-E", "--source": "-s", "--src": "-s", "--destination": "-d",
        "--dst": "-d", "--protocol": "-p", "--jump": "-j", "--goto": "-g", "--in-interface": "-i",
        "--out-interface": "-o", "--match": "-m", "--numeric": "-n", "--exact": "-x", "--line-numbers": "-0",
        "--fragment": "-f", "--set-counters": "-c",
    ]

    static func short(_ w: String) -> String { shortNames[w] ?? w }

    /// libxt_REJECT warns for any (case-blind) prefix of `echo-reply` or `echoreply`,
    /// the reply type it no longer supports, before its "unknown reject type".
    static func isEchoReply(_ t: String) -> Bool {
        let l = t.lowercased()
        return "echo-reply".hasPrefix(l) || "echoreply".hasPrefix(l)
    }

    /// The texts between single quotes in one of our messages, in order.
    static func quoted(_ s: String) -> [String] {
        s.split(separator: "'", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    /// Maps one parse diagnostic of an argv to iptables' message.
    static func refusal(for d: Diagnostic, words: [Word], kind: IptCommand.Kind?, chain: String?) -> Refusal {
        let word = words.first { $0.column == d.location.column }?.text ?? ""
        let q = quoted(d.message)
        let last = q.last ?? word
        let m = d.message
        // The option an argument belongs to, as iptables names it in "bad value" messages.
        let option = words.firstIndex { $0.column == d.location.column }.flatMap { $0 > 0 ? words[$0 - 1].text : nil } ?? ""
        switch d.id {
        case "xt":
            // IptParse already holds iptables' words (ExtensionForms).
            return parameter(m)
        case "kernel-refuses":
            let op = [IptCommand.Kind.insert: "RULE_INSERT", .replace: "RULE_REPLACE"][kind ?? .append] ?? "RULE_APPEND"
            return netlink(op, "Invalid argument", "rule in chain \(chain ?? "")")
        case "unknown-option":
            // A long option as written (without `=value`); a short one as our message names it (`-q` of `-Aq`).
            let name = word.hasPrefix("--") ? String(word.prefix { $0 != "=" }) : (q.first ?? word)
            return parameter("unknown option \"\(name)\"")
        case "missing-argument":
            if m.contains("rule number") { return parameter("-R requires a rule number") }
            if m.hasPrefix("-c requires") { return parameter(m) }
            if m.contains("policy") { return parameter("-P requires a chain and a policy") }
            if word == "--tcp-flags" || m.contains("'--tcp-flags'") { return parameter("--tcp-flags requires two args.") }
            return parameter("option \"\(word)\" requires an argument")
        case "bad-argument":
            return Refusal(text: "Bad argument `\(word)'\n" + hint + "\n", status: 2)
        case "multiple-commands":
            return parameter("Cannot use \(short(word)) with \(short(q.first ?? ""))")
        case "multiple-negation":
            return parameter("multiple consecutive ! not allowed")
        case "illegal-option":
            return parameter("Illegal option `\(short(word))' with this command")
        case "duplicate-option":
            if m.contains("target") { return parameter("multiple -j flags not allowed") }
            if m.hasPrefix("source") { return parameter("multiple -s flags not allowed") }
            if m.hasPrefix("destination") { return parameter("multiple -d flags not allowed") }
            if m.hasPrefix("protocol") { return parameter("multiple -p flags not allowed") }
            if m.contains("--syn") || m.contains("tcp-flags") { return parameter("Only one of `--syn' or `--tcp-flags'  allowed") }
        case "undefined-target", "undefined-chain":
            return parameter("Chain '\(q.last ?? word)' does not exist")
        case "unknown-match":
            return parameter("Couldn't load match `\(q.first ?? word)':No such file or directory\n")
        case "bad-port":
            return parameter("invalid port/service `\(last)' specified")
        case "bad-port-range":
            return parameter("invalid portrange (min > max)")
        case "xt-message", "never-matches-protocol":
            // Our message is already the extension's own words (NamedValues.swift).
            return parameter(m)
        case "xt-message-nl":
            return parameter(m + "\n")
        case "unresolved-port":
            return parameter("Port \"\(q.first ?? word)\" does not resolve to anything.\n")
        case "too-many-components":
            return parameter("udp: Too many components for option \"\(q.first ?? "")\" (max: 2)\n")
        case "bad-address" where m.contains("address range"):
            return parameter("iprange: Bad value for \"\(option)\" option: \"\(word)\"")
        case "bad-number" where option == "--mark":
            return parameter("mark: bad integer value for option \"--mark\", or out of range.\n")
        case "bad-number" where option == "--length":
            return parameter("length: bad value for option \"--length\" near \"\(word)\", or out of range (0-65535).\n")
        case "bad-number" where option.hasPrefix("--ttl-"):
            return parameter("ttl: bad value for option \"\(option)\", or out of range (0-255).\n")
        case "bad-address", "hostname":
            return parameter("host/network `\(q.last.map { $0.split(separator: "/").first.map(String.init) ?? $0 } ?? word)' not found")
        case "negated-list":
            return parameter("! not allowed with multiple source or destination IP addresses")
        case "ambiguous-host":
            return parameter("\(q.first ?? word) resolves to more than one address\n")
        case "bad-prefix":
            if m.hasPrefix("prefix length "), let n = m.split(separator: " ").dropFirst(2).first {
                return parameter("invalid mask `\(n)' specified")
            }
            return parameter("invalid mask `\(last)' specified")
        case "bad-protocol":
            return parameter("unknown protocol \"\(q.first ?? word)\" specified")
        case "bad-rule-number":
            return parameter("Invalid rule number `\(last)'")
        case "bad-chain-name":
            if m.contains("too long") { return parameter("chain name `\(q.first ?? word)' too long (must be under 29 chars)") }
        case "bad-direction":
            let opt = m.hasPrefix("'-o'") ? "-o" : "-i"
            return parameter("Can't use \(opt) with \(chain ?? "")\n")
        case "too-many-ports":
            return parameter("too many ports specified")
        case "bad-state":
            return parameter(words.contains { $0.text == "--state" } ? "Bad state \"\(q.first ?? "")\"" : "Bad ctstate \"\(q.first ?? "")\"")
        case "bad-reject":
            // libxt_REJECT names the type it dropped (echo-reply, ...) before refusing it.
            if let t = q.first, IptablesMessages.isEchoReply(t) {
                return Refusal(text: "--reject-with \(t) no longer supported\n" + parameter("unknown reject type \"\(t)\"").text, status: 2)
            }
            return parameter("unknown reject type \"\(q.first ?? "")\"")
        case "bad-log-level":
            return parameter("log level \"\(q.first ?? "")\" unknown\n")
        case "bad-icmp-type":
            return parameter("Unknown ICMP type `\(q.first ?? "")'")
        case "bad-rate" where m.hasSuffix("is too fast"):
            return parameter("Rate too fast \"\(q.first ?? "")\"")
        case "bad-rate":
            return parameter("bad rate \"\(q.first ?? "")\"'")
        case "bad-tcp-flag":
            return parameter("Unknown TCP flag `\(q.first ?? "")'")
        case "bad-interface":
            if m.contains("too long") { return parameter("interface name `\(q.first ?? "")' must be shorter than IFNAMSIZ (15)") }
        case "bad-mac":
            return parameter("Invalid MAC address specified.")
        case "bad-value" where m.contains("unicast, broadcast or multicast"):
            return parameter("Bad packet type '\(q.first ?? "")'")
        case "bad-addrtype":
            return parameter("addrtype: bad type \"\(q.first ?? "")\"")
        case "match-needs-protocol":
            if let name = q.first, ["tcp", "udp"].contains(name) {
                return parameter("\(name.uppercased()) match requires '-p \(name)'")
            }
        case "missing-option":
            if m.contains("comment") { return parameter("comment: option \"--comment\" must be specified\n") }
        case "undefined-set":
            return parameter("Set \(q.first ?? "") doesn't exist.\n")
        case "bad-table":
            return Refusal(text: prefix + "table '\(q.first ?? "")' does not exist\nPerhaps iptables or your kernel needs to be upgraded.\n", status: 3)
        case "reject-needs-tcp", "target-table":
            let op = [IptCommand.Kind.insert: "RULE_INSERT", .replace: "RULE_REPLACE"][kind ?? .append] ?? "RULE_APPEND"
            return netlink(op, "Invalid argument", "rule in chain \(chain ?? "")")
        default:
            break
        }
        // No iptables wording known: keep iptables' shape and status with our own words.
        return parameter(m)
    }
}

extension IptablesMessages {
    /// Maps a refused edit to what iptables says for the same command.
    static func refusal(for e: EditError, command cmd: IptCommand) -> Refusal {
        switch (e.kind, cmd.kind) {
        case (.noSuchChain, .policy), (.builtinChain, .policy):
            return resource("Bad built-in chain name.")
        case (.noSuchChain, .zero) where cmd.ruleNumber != nil, (.noSuchChain, .delete) where cmd.ruleNumber == nil,
             (.noSuchChain, .check):
            return resource("Bad rule (does a matching rule exist in that chain?).")
        case (.noSuchChain, _), (.builtinChain, .deleteChain), (.builtinChain, .renameChain):
            return resource("No chain/target/match by that name.")
        case (.chainExists, .renameChain):
            return resource("File exists.")
        case (.chainExists, _):
            return resource("Chain already exists.")
        case (.badRule, _):
            return resource("Bad rule (does a matching rule exist in that chain?).")
        case (.indexTooBig, .delete):
            return resource("Index of deletion too big.")
        case (.indexTooBig, .insert):
            return resource("Index of insertion too big.")
        case (.indexTooBig, _):
            return resource("Index of replacement too big.")
        case (.badPolicy, _):
            return resource("Bad policy name. Run `dmesg' for more information.")
        case (.chainInUse, _), (.chainNotEmpty, _):
            return netlink("CHAIN_DEL", "Device or resource busy", "chain \(e.chain ?? cmd.chain ?? "")")
        case (.invalid, .newChain):
            return parameter("chain name may not clash with target name")
        case (.invalid, .replace):
            return parameter("Replacement rule does not specify a unique address")
        default:
            return Refusal(text: prefix + e.message + "\n", status: 1)
        }
    }
}
