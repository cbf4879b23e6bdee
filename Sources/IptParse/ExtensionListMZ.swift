/// The `-L` forms (libxtables' `print` functions, not `save`) of m–z extensions we keep by
/// name, learnt from iptables 1.8.9 through the option sweep (fixtures/option-sweep) and by
/// listing combined rules in a namespace. Each takes the canonical (iptables-save) options
/// the OpaqueCanonicalizer made; nil for an option whose `-L` form we have not learnt, so
/// the caller refuses to list rather than guess.
enum ExtensionListMZ {
    static func match(_ e: ExtensionCall) -> String? {
        func bang(_ o: ExtensionOption, spaced: Bool = true) -> String { o.negated ? (spaced ? " !" : "!") : "" }
        switch e.name {
        case "tos":
            // libxt_tos: ` tos match` glued to `[!]0xVV/0xMM`.
            guard e.options.count == 1, let o = e.options.first, o.name == "tos" else { return nil }
            return " tos match" + bang(o, spaced: false) + o.args[0]
        case "owner":
            var s = ""
            for o in e.options {
                switch o.name {
                case "socket-exists": s += bang(o) + " owner socket exists"
                case "uid-owner": s += bang(o) + " owner UID match \(o.args[0])"
                case "gid-owner": s += bang(o) + " owner GID match \(o.args[0])"
                case "suppl-groups": s += " incl. suppl. groups"
                default: return nil
                }
            }
            return s
        case "physdev":
            // libxt_physdev prints its save form after ` PHYSDEV match`.
            var s = " PHYSDEV match"
            for o in e.options {
                s += bang(o) + " --\(o.name)" + o.args.map { " " + $0 }.joined()
            }
            return s
        case "realm":
            guard e.options.count == 1, let o = e.options.first, o.name == "realm" else { return nil }
            return bang(o) + " realm " + o.args[0]
        case "policy":
            return policy(e)
        default:
            return nil
        }
    }

    /// libxt_policy: `dir`, `pol`, `strict`, then each element; with more than one element
    /// each is introduced by `[i]`. The protocol is printed as its number.
    static func policy(_ e: ExtensionCall) -> String? {
        var s = " policy match"
        let elements = e.options.filter { $0.name == "next" }.count + 1
        var index = 0
        var started = false
        for o in e.options {
            let neg = o.negated ? " !" : ""
            switch o.name {
            case "dir", "pol":
                s += " \(o.name) \(o.args[0])"
            case "strict":
                s += " strict"
            case "next":
                index += 1
                s += " [\(index)]"
            case "reqid", "spi", "mode", "tunnel-src", "tunnel-dst", "proto":
                if elements > 1 && !started { s += " [0]"; started = true }
                var v = o.args[0]
                if o.name == "proto" { v = ProtocolNames.parse(v.lowercased()).map { String($0) } ?? v }
                s += neg + " \(o.name) \(v)"
            default:
                return nil
            }
            if o.name == "next" { started = true }
        }
        return s
    }

    static func target(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        switch e.name {
        case "TOS":
            return arg("set-tos").map { " TOS set \($0)" }
        case "NFLOG":
            // libxt_NFLOG prints its options without dashes, the prefix quoted as in save.
            var s = ""
            for o in e.options {
                switch o.name {
                case "nflog-prefix": s += " nflog-prefix" + RulePrinter.saveString(o.args[0])
                case "nflog-group", "nflog-size", "nflog-threshold": s += " \(o.name) \(o.args[0])"
                default: return nil
                }
            }
            return s
        case "NFQUEUE":
            var s = " NFQUEUE"
            for o in e.options {
                switch o.name {
                case "queue-num": s += " num \(o.args[0])"
                case "queue-balance": s += " balance \(o.args[0])"
                case "queue-bypass": s += " bypass"
                case "queue-cpu-fanout": s += " cpu-fanout"
                default: return nil
                }
            }
            return s
        case "TPROXY":
            guard let port = arg("on-port"), let ip = arg("on-ip"), let mark = arg("tproxy-mark") else { return nil }
            // The IPv6 form is not learnt yet.
            guard !ip.contains(":") else { return nil }
            return " TPROXY redirect \(ip):\(port) mark \(mark)"
        case "TEE":
            guard let gw = arg("gateway") else { return nil }
            return " TEE gw:\(gw)" + (arg("oif").map { " oif=\($0)" } ?? "")
        case "NETMAP":
            return arg("to").map { " to:\($0)" }
        case "SYNPROXY":
            // libxt_SYNPROXY: each option and a trailing space.
            var s = " SYNPROXY "
            for o in e.options {
                switch o.name {
                case "sack-perm", "timestamp", "ecn": s += "\(o.name) "
                case "wscale", "mss": s += "\(o.name) \(o.args[0]) "
                default: return nil
                }
            }
            return s
        default:
            return nil
        }
    }
}
