import Foundation

/// Whether the kernel of a namespace restored through ebpf-iptables holds what the kernel
/// makes of the same input by itself, as its own tools print it.
enum Fidelity {
    /// `iptables-save` without its comment lines (they carry the date) and with the chains'
    /// counters zeroed (a namespace's own IPv6 neighbour discovery moves OUTPUT's).
    static func withoutComments(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.map { line in
            line.hasPrefix(":") ? line.replacingOccurrences(of: "\\[[0-9]+:[0-9]+\\]$", with: "[0:0]", options: .regularExpression) : String(line)
        }.joined(separator: "\n")
    }

    /// `ipset save` without each hash set's random `initval`, its lines sorted: a hash set
    /// lists its members in the order of its (randomly seeded) hash.
    static func withoutInitval(_ s: String) -> String {
        s.replacingOccurrences(of: " initval 0x[0-9a-f]+", with: "", options: .regularExpression)
            .split(separator: "\n").sorted().joined(separator: "\n")
    }

    /// The first line where two texts differ, for a failure message.
    static func firstDifference(_ want: String, _ got: String) -> String {
        let w = want.split(separator: "\n", omittingEmptySubsequences: false), g = got.split(separator: "\n", omittingEmptySubsequences: false)
        let i = zip(w, g).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(w.count, g.count)
        return "line \(i + 1): kernel alone \"\(i < w.count ? String(w[i]) : "<end>")\", ours \"\(i < g.count ? String(g[i]) : "<end>")\""
    }

    /// Differences between `ref` (kernel tools alone) and `two` (our tools), each described:
    /// iptables-save of every table, ebpf-iptables-save, ipset save.
    static func compare(ref: Receiver, two: Receiver, family v6: Bool = false) -> [String] {
        let save = v6 ? "ip6tables-save" : "iptables-save"
        let want = withoutComments(ref.run([save]).stdout)
        var problems: [String] = []
        let kernel = withoutComments(two.run([save]).stdout)
        if kernel != want { problems.append("\(save) after ebpf-iptables-restore differs: \(firstDifference(want, kernel))") }
        let oursTool = v6 ? "ebpf-ip6tables-save" : "ebpf-iptables-save"
        let ours = two.ours(v6 ? ["save", "-6"] : [], tool: v6 ? "ebpf-iptables" : "ebpf-iptables-save")
        if ours.status != 0 {
            problems.append("\(oursTool) exited \(ours.status): \(ours.stderr)")
        } else if withoutComments(ours.stdout) != want {
            problems.append("\(oursTool) differs from the kernel's own print: \(firstDifference(want, withoutComments(ours.stdout)))")
        }
        let wantSets = withoutInitval(ref.run(["ipset", "save"]).stdout), gotSets = withoutInitval(two.run(["ipset", "save"]).stdout)
        if wantSets != gotSets { problems.append("ipset save differs: \(firstDifference(wantSets, gotSets))") }
        return problems
    }
}
