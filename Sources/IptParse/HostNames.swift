#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Names in `-s`/`-d` (and conntrack's address options), looked up the way libxtables
/// looks them up, through the same C library calls, so a rule gets the addresses iptables
/// would give it on this machine (/etc/hosts works offline):
/// - IPv4 lists (`xtables_ipparse_multiple`): a network name of /etc/networks
///   (`getnetbyname`, "link-local" is 169.254.0.0), else every address `getaddrinfo`
///   returns for AF_INET/SOCK_RAW, in its order, duplicates kept (one rule each);
/// - IPv6 lists (`xtables_ip6parse_multiple`): `getaddrinfo` for AF_INET6 only
///   (/etc/networks holds no IPv6);
/// - conntrack's single addresses (`xtopt_parse_host`): `getaddrinfo` alone, which also reads
///   inet_aton's forms (`1.2.3` is 1.2.0.3 there, where `-s 1.2.3` is 1.2.3.0).
enum HostNames {
    /// Every address of `name` as a `-s`/`-d` list item resolves it; empty when none.
    static func listItem(_ name: String, family: Family) -> [[UInt8]] {
        if family == .ipv4, let net = network(name) { return [net] }
        return addresses(name, family: family)
    }

    /// `getnetbyname`: an IPv4 network name of /etc/networks. The reentrant form: restore
    /// files are parsed on several threads (RestorePreparse).
    static func network(_ name: String) -> [UInt8]? {
        guard !name.isEmpty else { return nil }
        var entry = netent()
        var found: UnsafeMutablePointer<netent>? = nil
        var herr: Int32 = 0
        let size = 4096
        var buf = [CChar](repeating: 0, count: size)
        let rc = getnetbyname_r(name, &entry, &buf, size, &found, &herr)
        guard rc == 0, found != nil, entry.n_addrtype == AF_INET else { return nil }
        let v = UInt32(truncatingIfNeeded: entry.n_net)
        return [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    /// `getaddrinfo(name, NULL, {family, SOCK_RAW})`: each address it returns, in order.
    static func addresses(_ name: String, family: Family) -> [[UInt8]] {
        guard !name.isEmpty else { return [] }
        var hints = addrinfo()
        hints.ai_family = family == .ipv4 ? AF_INET : AF_INET6
        hints.ai_socktype = Int32(SOCK_RAW.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(name, nil, &hints, &res) == 0 else { return [] }
        defer { freeaddrinfo(res) }
        var out: [[UInt8]] = []
        var p = res
        while let ai = p {
            if let sa = ai.pointee.ai_addr {
                if family == .ipv4, ai.pointee.ai_family == AF_INET {
                    let a = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in.self).sin_addr
                    out.append(withUnsafeBytes(of: a) { Array($0) })
                } else if family == .ipv6, ai.pointee.ai_family == AF_INET6 {
                    let a = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in6.self).sin6_addr
                    out.append(withUnsafeBytes(of: a) { Array($0) })
                }
            }
            p = ai.pointee.ai_next
        }
        return out
    }
}
