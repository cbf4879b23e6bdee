import IptParse

extension AtomLowering {
    /// A recent match as an extension test, when its list is one XDP keeps (RecentLists);
    /// else why the rule stays the kernel's.
    func recentTest(_ e: ExtensionCall, rule: Rule, ref: RuleRef?, index: Int) -> Result<RecentTest, UnsupportedTest> {
        let instance = ExtInstance(rule: ref ?? RuleRef(table: "", chain: "", index: 0, line: nil), match: index)
        guard var t = RecentTest.parse(e, instance: instance, actOnly: rule.target == nil) else {
            return .failure(.match("recent"))
        }
        guard let hitcounts = recent.owned[t.name] else {
            return .failure(.recentList(t.name, why: recent.refused[t.name] ?? "not evaluated in XDP"))
        }
        t.listHitcounts = hitcounts.sorted()
        return .success(t)
    }
}
