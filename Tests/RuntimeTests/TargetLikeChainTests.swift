import IptParse
@testable import Runtime
import XCTest

/// iptables-save text of a kernel whose user chains are named like targets (iptables-nft's
/// `-E x DROP`, `-N LOG`): a `-j` of that name may be the jump or the target, so XDP must
/// not be compiled from our reading of it (KernelView gives no ruleset: XDP passes all).
final class TargetLikeChainTests: XCTestCase {
    func view(_ body: String) -> Ruleset? {
        KernelView.rules("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\(body)COMMIT\n", family: .ipv4).ruleset
    }

    func testAmbiguousTextIsNotRead() {
        // After `-N y; -A y -j DROP; -A INPUT -p udp -j y; -E y DROP`: the kernel jumps to an
        // empty-of-verdict chain the text calls DROP.
        XCTAssertNil(view(":DROP - [0:0]\n-A INPUT -p udp -j DROP\n"))
        XCTAssertNil(view(":ACCEPT - [0:0]\n"))
        // `-N LOG; -A LOG -j DROP; iptables -A INPUT -j LOG` loads the LOG target; the text
        // reads like a jump into a chain that drops.
        XCTAssertNil(view(":LOG - [0:0]\n-A INPUT -p tcp -j LOG\n-A LOG -j DROP\n"))
    }

    func testUnambiguousTextIsRead() {
        // A chain named like a target that no -j names, and -g (always a chain), read as usual.
        XCTAssertNotNil(view(":LOG - [0:0]\n-A LOG -j DROP\n"))
        XCTAssertNotNil(view(":LOG - [0:0]\n-A INPUT -g LOG\n"))
        XCTAssertNotNil(view(":y - [0:0]\n-A INPUT -p udp -j y\n-A y -j DROP\n"))
    }
}
