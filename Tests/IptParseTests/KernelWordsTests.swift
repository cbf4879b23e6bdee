import IptParse
import XCTest

/// Rules written one way and stored by the kernel another: our printer must print what
/// `iptables -S` / `iptables-save` printed for them (iptables 1.8.9, nf_tables, recorded on
/// this kind of machine by `iptables -A INPUT ...; iptables -S INPUT`). The conformance
/// tests meet these forms only through the kernel; here the written forms are read by our
/// parser directly.
final class KernelWordsTests: XCTestCase {
    /// (as written after `-A INPUT`, as the kernel prints it back)
    static let cases: [(String, String)] = [
        (#"-m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0""#, #"-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0=0x0""#),
        (#"-m u32 --u32 "6&0xFF=6&&0>>22&0x3C@0=0x1:0x5,7""#, #"-m u32 --u32 "0x6&0xff=0x6&&0x0>>0x16&0x3c@0x0=0x1:0x5,0x7""#),
        (#"-m u32 --u32 "  6 & 0xFF = 6 ""#, #"-m u32 --u32 "0x6&0xff=0x6""#),
        (#"-m u32 --u32 "012=5:5""#, #"-m u32 --u32 "0xa=0x5""#),
        (#"-m u32 --u32 "0x10<<2=1,2:3,4""#, #"-m u32 --u32 "0x10<<0x2=0x1,0x2:0x3,0x4""#),
        (#"-m u32 --u32 "4=0xffffffff""#, #"-m u32 --u32 "0x4=0xffffffff""#),
        (#"-m u32 --u32 "0=1&&1=2&&2=3""#, #"-m u32 --u32 "0x0=0x1&&0x1=0x2&&0x2=0x3""#),
        ("-m limit -j ACCEPT", "-m limit --limit 3/hour -j ACCEPT"),
        ("-m limit --limit-burst 0 -j ACCEPT", "-m limit --limit 3/hour -j ACCEPT"),
        ("-m hashlimit --hashlimit-above 100/sec --hashlimit-mode srcip,dstport --hashlimit-srcmask 24 --hashlimit-name flood -j DROP",
         "-m hashlimit --hashlimit-above 100/sec --hashlimit-burst 5 --hashlimit-mode srcip,dstport --hashlimit-name flood --hashlimit-srcmask 24 -j DROP"),
        ("-m connbytes --connbytes 10 --connbytes-dir both --connbytes-mode bytes",
         "-m connbytes --connbytes 10 --connbytes-mode bytes --connbytes-dir both"),
    ]

    func testRulesPrintAsTheKernelStoresThem() throws {
        var agreed = 0
        for (written, stored) in Self.cases {
            let ruleset = try RestoreParser.parse("*filter\n-A INPUT \(written)\nCOMMIT\n", options: .init(file: "<case>"))
            let printed = SavePrinter.save(ruleset).split(separator: "\n").first { $0.hasPrefix("-A INPUT") }.map(String.init)
            XCTAssertEqual(printed, "-A INPUT " + stored, written)
            if printed == "-A INPUT " + stored { agreed += 1 }
        }
        print("kernel words: \(agreed)/\(Self.cases.count) written forms print as the kernel stores them")
    }

    /// What libxt_u32 refuses, we refuse too.
    func testU32FormsTheKernelRefuses() {
        for bad in ["0=", "=1", "0x=1", "0=4294967296", "0>1=1"] {
            XCTAssertThrowsError(try RestoreParser.parse("*filter\n-A INPUT -m u32 --u32 \"\(bad)\"\nCOMMIT\n", options: .init(file: "<case>")), bad)
        }
    }
}
