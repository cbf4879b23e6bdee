import Foundation
import Loader

/// `live-cost`: CPU nanoseconds per packet of one data path, with BPF_PROG_TEST_RUN and
/// BPF_F_TEST_XDP_LIVE_FRAMES on the receiving veth of a firewall namespace (the process
/// runs inside it, under `ip netns exec`). The program is either the one attached to the
/// interface (ebpf-iptables, xdp-filter) or one of an object file (the bare drop floor, or
/// the bare pass that hands every frame to netfilter). Prints `ns_per_packet packets`.
///
/// The frame is one UDP datagram to port 5060 of the interface's address from a source
/// outside the whitelist: the SIP flood case, which every competitor drops.
struct LiveCostCommand {
    static let usage = "live-cost --interface IF --source A.B.C.D --destination A.B.C.D "
        + "[--object FILE --program NAME] [--expect drop|pass] [--seconds S]"

    let interface: String
    let frame: [UInt8]
    let objectPath: String?
    let programName: String
    let expect: UInt32?
    /// Target duration of the measured run; the warm-up sizes it.
    let seconds: Double

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        interface = try o.string("interface")
        let udp = UDPFrame(source: try o.address("source"), destination: try o.address("destination"))
        frame = udp.bytes(destinationMAC: try interfaceMAC(interface))
        objectPath = o.optional("object")
        programName = o.optional("program") ?? "xdp_pass"
        switch o.optional("expect") {
        case nil: expect = nil
        case "drop": expect = XDPAction.drop
        case "pass": expect = XDPAction.pass
        case let other?: throw BenchError(description: "--expect \(other): drop or pass")
        }
        seconds = try o.double("seconds", default: 0.25)
    }

    func run() throws {
        if let objectPath {
            let object = try BPFObjectFile(path: objectPath)
            try measure(try object.program(programName))
        } else {
            try measure(try XDPProgramHandle.attached(to: interface))
        }
    }

    private func measure(_ program: borrowing XDPProgramHandle) throws {
        if let expect {
            let action = try program.verdict(frame: frame, ingress: interface)
            guard action == expect else {
                throw BenchError(description: "\(interface): XDP action \(action), expected \(expect) (1 DROP, 2 PASS)")
            }
        }
        // Warm caches and size the run from the warm-up's cost: the netfilter paths with
        // long linear rule lists cost 1,000x more per packet than a bare drop.
        var warm = try program.liveFrames(frame, ingress: interface, count: 2_000)
        warm = try program.liveFrames(frame, ingress: interface, count: 2_000)
        let perPacket = max(warm.nanosecondsPerPacket, 1)
        let count = UInt32(min(max(seconds * 1e9 / perPacket, 1_000), 5_000_000))
        let cost = try program.liveFrames(frame, ingress: interface, count: count)
        print("\(fixed(cost.nanosecondsPerPacket, 1)) \(cost.packets)")
    }
}
