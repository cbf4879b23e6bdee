import Foundation

/// What each class of a traffic stream must get over time in one namespace: a verdict per
/// class (true: delivered) before the first edit, and after each edit; while an edit runs
/// (from the moment its command was started to the moment it returned), a class whose
/// verdict it changes may get either, and every other class must get its verdict.
struct StreamTimeline {
    struct Step {
        var label: String
        var start: Double
        var end: Double
        /// Every class's verdict once the edit returned.
        var after: [Bool]
    }

    var names: [String]
    var initial: [Bool]
    var steps: [Step] = []

    /// The verdict a packet of class `c` sent at `t` must get; nil while an edit that changes it runs.
    func expected(_ c: Int, at t: Double) -> Bool? {
        var v = initial[c]
        for s in steps {
            if t < s.start { return v }
            if t < s.end { return s.after[c] == v ? v : nil }
            v = s.after[c]
        }
        return v
    }

    /// Sent and arrived, of some packets.
    struct Tally: CustomStringConvertible {
        var sent = 0
        var arrived = 0
        var description: String { "\(arrived)/\(sent)" }
    }

    /// One edit as the stream saw it: the classes it kept (delivered or not) while it ran,
    /// and, for each class it changed, the packets before, during and after.
    struct StepReport {
        var label: String
        var milliseconds: Double
        var keptDelivered = Tally()
        var keptDropped = Tally()
        var changed: [(name: String, to: Bool, before: Tally, during: Tally, after: Tally)] = []

        var line: String {
            var s = label.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%5.0f ms", milliseconds)
                + "  while it ran: kept delivered \(keptDelivered), kept dropped \(keptDropped)"
            for c in changed {
                s += "; \(c.name) \(c.to ? "DROP->ACCEPT" : "ACCEPT->DROP") before \(c.before) during \(c.during) after \(c.after)"
            }
            return s
        }
    }

    struct Outcome {
        var reports: [StepReport] = []
        /// Packets whose verdict was certain and that got the other one (the first 20 of each named).
        var lost: [String] = []
        var leaked: [String] = []
        var lostCount = 0
        var leakedCount = 0
        /// Of those, the ones sent while an edit's command ran (the edit did not change their
        /// class's verdict, so the verdict was still certain).
        var lostDuringEdits = 0
        var leakedDuringEdits = 0
        var certainDelivered = 0
        var certainDropped = 0
    }

    /// Checks a receiver's record against the timeline.
    func check(sent: [Double], received: Set<Int>) -> Outcome {
        var out = Outcome()
        let n = names.count
        let end = sent.last ?? 0
        var reports = steps.map { StepReport(label: $0.label, milliseconds: ($0.end - $0.start) * 1000) }
        for (k, s) in steps.enumerated() {
            let before = k == 0 ? initial : steps[k - 1].after
            for c in 0..<n where before[c] != s.after[c] {
                reports[k].changed.append((names[c], s.after[c], Tally(), Tally(), Tally()))
            }
        }
        for (seq, t) in sent.enumerated() {
            let c = seq % n
            let got = received.contains(seq)
            switch expected(c, at: t) {
            case true?:
                out.certainDelivered += 1
                if !got { out.lostCount += 1; if inEdit(t) { out.lostDuringEdits += 1 } }
                if !got, out.lost.count < 20 { out.lost.append("\(names[c]) #\(seq) at \(String(format: "%.3f", t - (sent.first ?? 0))) s (\(phase(t)))") }
            case false?:
                out.certainDropped += 1
                if got { out.leakedCount += 1; if inEdit(t) { out.leakedDuringEdits += 1 } }
                if got, out.leaked.count < 20 { out.leaked.append("\(names[c]) #\(seq) at \(String(format: "%.3f", t - (sent.first ?? 0))) s (\(phase(t)))") }
            case nil:
                break
            }
            // Which step's report this packet belongs to: the edit it was sent during, or the
            // gap before or after one.
            for (k, s) in steps.enumerated() {
                let prevEnd = k == 0 ? (sent.first ?? 0) : steps[k - 1].end
                let nextStart = k + 1 < steps.count ? steps[k + 1].start : end + 1
                guard t >= prevEnd, t < nextStart else { continue }
                let before = k == 0 ? initial : steps[k - 1].after
                if let i = reports[k].changed.firstIndex(where: { $0.name == names[c] }) {
                    if t < s.start { reports[k].changed[i].before.count(got) }
                    else if t < s.end { reports[k].changed[i].during.count(got) }
                    else { reports[k].changed[i].after.count(got) }
                } else if t >= s.start, t < s.end {
                    if before[c] { reports[k].keptDelivered.count(got) } else { reports[k].keptDropped.count(got) }
                }
            }
        }
        out.reports = reports
        return out
    }

    /// Whether some edit's command was running at `t`.
    func inEdit(_ t: Double) -> Bool {
        steps.contains { t >= $0.start && t < $0.end }
    }

    func phase(_ t: Double) -> String {
        for (k, s) in steps.enumerated() {
            if t < s.start { return k == 0 ? "before the first edit" : "after \(steps[k - 1].label)" }
            if t < s.end { return "during \(s.label)" }
        }
        return "after \(steps.last?.label ?? "nothing")"
    }
}

extension StreamTimeline.Tally {
    mutating func count(_ arrived: Bool) {
        sent += 1
        if arrived { self.arrived += 1 }
    }
}
