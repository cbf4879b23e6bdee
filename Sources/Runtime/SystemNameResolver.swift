import Foundation
import IptParse

/// The lookups iptables -L makes without -n, through the same C library calls
/// (getservbyport, getnameinfo), so the names are the ones iptables would print here.
struct SystemNameResolver: ListNameResolver {
    func service(port: UInt16, proto: String) -> String? {
        guard let s = getservbyport(Int32(port.bigEndian), proto), let name = s.pointee.s_name else { return nil }
        return String(cString: name)
    }

    /// xtables_ipaddr_to_anyname: a host name, else a network name (/etc/networks), else the number.
    func host(_ address: [UInt8]) -> String {
        let numeric = address.map(String.init).joined(separator: ".")
        guard address.count == 4 else { return numeric }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = address.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in>.size), &buf, socklen_t(buf.count - 1), nil, 0, NI_NAMEREQD)
            }
        }
        if rc == 0 { return String(cString: buf) }
        let hostOrder = address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if let n = getnetbyaddr(hostOrder, AF_INET), let name = n.pointee.n_name { return String(cString: name) }
        return numeric
    }
}
