import IptParse

extension AtomLowering {
    /// `-m time` as an extension test (bpf/ext_time.h): UTC rules only. With --kerneltz
    /// xt_time shifts by the kernel's sys_tz at every packet; settimeofday() may change it at
    /// any moment and XDP cannot read it, so such a rule stays the kernel's.
    static func time(_ e: ExtensionCall) throws(UnsupportedTest) -> ExtTest {
        guard let t = TimeMatch.parse(e) else { throw .timeMatch("options libxt_time would not write are not evaluated in XDP") }
        guard !t.kernelTimezone else {
            throw .timeMatch("--kerneltz follows the kernel's sys_tz (settimeofday), which XDP cannot read")
        }
        return .time(t, negated: false)
    }
}
