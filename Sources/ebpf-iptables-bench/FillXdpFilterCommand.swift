import Foundation
import Loader

/// `fill-xdp-filter`: puts the whitelist's members into the `filter_ipv4` map of the
/// xdp-filter program attached to `--interface`, as source addresses: what
/// `xdp-filter ip ADDR --mode src` does for one address.
/// One process per address (the CLI's way) takes ~30 ms each here, so 10,000 members
/// would take five minutes; writing the map directly takes milliseconds.
struct FillXdpFilterCommand {
    static let usage = "fill-xdp-filter --interface IF --members N"
    /// xdp-filter's common_kern_user.h: MAP_FLAG_SRC. The counter lives above bit 6.
    static let sourceFlag: UInt64 = 1 << 0

    let interface: String
    let members: Int

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        interface = try o.string("interface")
        members = try o.int("members")
    }

    func run() throws {
        let program = try XDPProgramHandle.attached(to: interface)
        let map = try ForeignMap(named: "filter_ipv4", usedBy: program)
        // The key is the address as the packet carries it (network order).
        let keys = (0..<members).map { WhitelistRuleset.address(index: $0).bigEndian }
        try map.fillPerCPU(keys: keys, value: Self.sourceFlag)
    }
}
