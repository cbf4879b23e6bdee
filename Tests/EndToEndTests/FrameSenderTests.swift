import Foundation
import TestSupport
import XCTest

/// Verifier's FrameSender (a python3 child fed one frame per line through ChildProcess):
/// every acknowledged frame reached the other end of the veth, and the sender is gone
/// once it is dropped.
final class FrameSenderTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        guard Run.has("python3") else { throw XCTSkip("python3 is not installed (FrameSender's sender)") }
    }

    func testEveryAcknowledgedFrameArrives() throws {
        let gen = try NetworkNamespace(prefix: "ebpt-fs")
        let rx = try NetworkNamespace(prefix: "ebpt-fs")
        XCTAssertEqual(Run.run(["ip", "link", "add", "fs0", "netns", gen.name, "type", "veth", "peer", "name", "fs1", "netns", rx.name]).status, 0)
        XCTAssertEqual(Run.run(["ip", "-n", gen.name, "link", "set", "fs0", "up"]).status, 0)
        XCTAssertEqual(Run.run(["ip", "-n", rx.name, "link", "set", "fs1", "up"]).status, 0)
        func received() -> Int { Int(rx.run(["cat", "/sys/class/net/fs1/statistics/rx_packets"]).stdout.filter(\.isNumber)) ?? -1 }

        let before = received()
        // Broadcast frames of the local experimental EtherType 0x88b5, 60 bytes each.
        let frames = 50
        do {
            let sender = try FrameSender(namespace: gen.name, interface: "fs0")
            for i in 0..<frames {
                let frame: [UInt8] = Array(repeating: 0xff, count: 6) + [2, 0, 0, 0, 0, 1, 0x88, 0xb5]
                    + [UInt8(i)] + Array(repeating: 0, count: 45)
                try sender.send(frame)
            }
        }
        // Acknowledged means sent; the peer counts it as it crosses the veth. (The kernel may
        // add frames of its own, such as IPv6 router solicitations, hence "at least".)
        XCTAssertGreaterThanOrEqual(received() - before, frames)
        XCTAssertEqual(Run.run(["ip", "netns", "pids", gen.name]).stdout, "", "the sender outlived its FrameSender")
    }

    /// A sender that cannot open its socket exits; the next send says so with its stderr.
    func testASenderThatDiesIsReportedWithItsStderr() throws {
        let gen = try NetworkNamespace(prefix: "ebpt-fs")
        let sender = try FrameSender(namespace: gen.name, interface: "no-such-if")
        // Until it is gone (bounded), so the send meets a closed pipe, not a slow start.
        for _ in 0..<500 where !Run.run(["ip", "netns", "pids", gen.name]).stdout.isEmpty { usleep(10_000) }
        XCTAssertThrowsError(try sender.send([0xff, 0xff])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("frame sender exited (status 1): "), text)
            XCTAssertTrue(text.contains("No such device"), text)
        }
    }
}
