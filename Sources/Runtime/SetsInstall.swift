import IptParse

/// The `ipset restore` script that makes the kernel's sets what `--ipset` files say, set by
/// set, each change atomic for packets: a set that exists is filled under a temporary name
/// and swapped in (rules keep matching the old members until the swap), a new one is
/// created. Sets the files do not name are left alone.
enum SetsInstall {
    enum Problem: Error, Equatable, CustomStringConvertible {
        case inUseWithOtherType(name: String, kernel: String, file: String)
        var description: String {
            switch self {
            case .inUseWithOtherType(let n, let k, let f):
                "set \(n) exists in the kernel as \(k) and is in use; the file defines it as \(f) (destroy or rename it first)"
            }
        }
    }

    /// `inUse`: names of kernel sets something references (a rule, a list:set).
    static func script(_ files: IpsetScript, kernel: IpsetScript?, inUse: (String) -> Bool) throws(Problem) -> String {
        var out = ""
        for (i, s) in files.sets.enumerated() {
            guard let old = kernel?.set(named: s.name) else {
                out += IpsetPrinter.save(IpsetScript(sets: [s]))
                continue
            }
            if old.create.type == s.create.type && old.create.family == s.create.family {
                var temp = s
                temp.create.name = tempName(i)
                out += IpsetPrinter.save(IpsetScript(sets: [temp]))
                out += "swap \(s.name) \(temp.name)\ndestroy \(temp.name)\n"
            } else if inUse(s.name) {
                throw .inUseWithOtherType(name: s.name, kernel: old.create.type.rawValue, file: s.create.type.rawValue)
            } else {
                out += "destroy \(s.name)\n" + IpsetPrinter.save(IpsetScript(sets: [s]))
            }
        }
        return out
    }

    /// At most 31 characters, as ipset allows; unlikely to be a user's.
    static func tempName(_ i: Int) -> String { "ebpf-iptables-tmp-\(i)" }

    /// The kernel's sets as definitions only: enough for iptables to accept rules that
    /// name them in a dry run.
    static func headers(_ setsText: String) -> String {
        setsText.split(separator: "\n").filter { $0.hasPrefix("create ") }.map { $0 + "\n" }.joined()
    }
}
