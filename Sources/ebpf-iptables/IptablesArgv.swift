import Foundation
import IptParse
import Runtime

/// `ebpf-iptables -A INPUT ...` (and `ebpf-ip6tables`): iptables' own command line.
enum IptablesArgv {
    static func run(_ args: [String], family: Family) -> Int32 {
        CLI.run(.iptables(argv: args, family: family))
    }
}
