import Loader
import XCTest

final class LibbpfLinkTests: XCTestCase {
    /// The system-library module links and reports the libbpf the build found (Debian 12 ships 1.1).
    func testLibbpfIsLinked() {
        let v = Libbpf.version
        XCTAssertEqual(v.major, 1)
        XCTAssertGreaterThanOrEqual(v.minor, 1)
    }
}
