import Loader

/// `ipset [-exist] add|del SET a.b.c.d`: the one command form the kernel layer sends over
/// netlink itself (KernelNetlink.ipsetMember) instead of starting ipset, which costs more
/// than the kernel's whole edit. Exactly what the tool sends for it: IPSET_CMD_ADD/DEL with
/// the set's name and one IPv4 address (no CIDR: a hash:net set takes /32, a netmask set
/// masks it), NLM_F_EXCL unless -exist. Every set type that needs more than the address
/// (a port, an interface, a MAC for hash:mac, a set name for list:set) or another family
/// refuses it in the kernel, as it refuses anything already added / not added, a full set
/// or an unknown name: the caller then runs the tool, whose message and exit status stand.
struct IpsetMemberEdit: Equatable {
    var edit: KernelNetlink.MemberEdit
    var set: String
    var address: UInt32
    var exist: Bool

    /// nil for any other argv (options other than -exist, names, prefixes, ranges, extras).
    init?(_ argv: [String]) {
        let existWords: Set<String> = ["-exist", "-!", "--exist"]
        let words = argv.filter { !existWords.contains($0) }
        guard words.count == 3 else { return nil }
        switch words[0] {
        case "add", "-A", "--add": edit = .add
        case "del", "-D", "--del": edit = .del
        default: return nil
        }
        // ipset's own limit on a name (IPSET_MAXNAMELEN 32, with the NUL); longer names and
        // option-looking words get the tool's message.
        guard !words[1].isEmpty, !words[1].hasPrefix("-"), words[1].utf8.count < 32,
              let a = DottedQuad.parse(words[2]) else { return nil }
        set = words[1]
        address = a
        exist = argv.count != words.count
    }

    /// Throws when the kernel refuses (or netlink is unavailable): nothing changed.
    func send() throws {
        try KernelNetlink.ipsetMember(edit, set: set, ipv4: address, exist: exist)
    }
}
