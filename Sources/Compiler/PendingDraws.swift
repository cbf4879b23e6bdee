import IptParse

/// `-m statistic --mode random` decided in XDP by a pending draw.
///
/// xt_statistic draws `get_random_u32() & 0x7FFFFFFF < probability` each time a packet
/// reaches the rule. With two layers, a packet XDP passes up is judged again by the kernel,
/// which draws again: a draw XDP made and answered "no" for a packet that then goes up
/// would compound (the rule would match p + (1-p)p of them). So the program does not draw
/// where it meets the test: at a position whose every other test holds it records a
/// pending draw (position, probability, `!`; at most `maxPending`) and goes on as if the
/// rule did not match. At the end it draws, in order, only when XDP itself carries out
/// every outcome the draws can lead to (each pending position's verdict and the verdict
/// found: DROP, REJECT answered from XDP, or ACCEPT when the kernel's INPUT is empty);
/// the first draw that says yes decides (its verdict and its counter). Otherwise the packet
/// goes up undrawn, and the kernel draws once. Passing up is independent of the draws, so
/// every outcome keeps the kernel's probability.
///
/// A stateful test (limit, hashlimit, recent) evaluated while a draw is pending would be
/// charged for a packet the draw might have taken first: it answers "may match" and the
/// packet goes up (bpf/ext_stateful.h).
public enum PendingDraws {
    /// `EIPT_MAX_DRAWS` in bpf/ebpf_iptables.h: a packet meeting more goes up.
    public static let maxPending = 4

    /// One pending draw of a judged packet: the position that takes the packet when the
    /// draw says yes.
    public struct Draw: Equatable, Sendable {
        public var position: UInt32
        /// libxt_statistic's 31-bit threshold, lround(2^31 * p).
        public var probability: UInt32
        public var negated: Bool
        public var verdict: CompiledTables.Verdict
        public init(position: UInt32, probability: UInt32, negated: Bool, verdict: CompiledTables.Verdict) {
            self.position = position
            self.probability = probability
            self.negated = negated
            self.verdict = verdict
        }

        /// xt_statistic's answer for a random 32-bit value (`!` inverts it).
        public func says(_ random: UInt32) -> Bool {
            ((random & 0x7FFF_FFFF) < probability) != negated
        }

        /// The chance the draw says yes.
        public var chance: Double {
            let p = min(Double(probability) / Double(0x8000_0000), 1)
            return negated ? 1 - p : p
        }
    }

    /// Whether XDP itself carries out `v` (the packet does not go up, so the kernel does not
    /// draw again). REJECT counts when its reply is answered from XDP, which the program
    /// checks before drawing; the mirror takes it as answered.
    public static func xdpCarriesOut(_ v: CompiledTables.Verdict, xdpOnly: Bool = false) -> Bool {
        switch v {
        case .drop, .reject: true
        case .accept: xdpOnly
        // A CONTINUE position does not end the walk: the packet goes on in XDP or up.
        case .kernel, .continue, .continueWithoutEntry: false
        }
    }
}

extension PendingDraws {
    /// The program's pending draws for one packet, as `CompiledTables.decide` follows them.
    struct Mirror {
        private(set) var draws: [Draw] = []
        private var instances: Set<ExtInstance> = []

        /// Records the draw of the rule at `position` (every other test of it held): false
        /// when the program cannot (full, or the same rule instance twice), and the rule
        /// then may match, its position going to the kernel.
        mutating func record(_ test: ExtTest, at position: UInt32, verdict: CompiledTables.Verdict) -> Bool {
            guard case .statistic(.random(let p), let negated, let instance) = test,
                  draws.count < PendingDraws.maxPending, !instances.contains(instance) else { return false }
            instances.insert(instance)
            draws.append(Draw(position: position, probability: p, negated: negated, verdict: verdict))
            return true
        }

        /// `eipt_draws_resolve`: XDP draws only when it carries out every outcome.
        func resolve(_ found: CompiledTables.Decision, xdpOnly: Bool) -> CompiledTables.Decision {
            guard !draws.isEmpty else { return found }
            let all = draws.map(\.verdict) + [found.verdict]
            guard all.allSatisfy({ PendingDraws.xdpCarriesOut($0, xdpOnly: xdpOnly) }) else {
                return CompiledTables.Decision(position: found.position, verdict: .kernel)
            }
            return CompiledTables.Decision(position: found.position, verdict: found.verdict, continued: found.continued, draws: draws)
        }
    }
}

extension AtomLowering {
    /// The pending draw of a rule goes last among its tests (the program records it only once
    /// every other test held): fine for stateless tests, which commute, but a stateful test
    /// after the draw is charged by iptables only when the draw says yes, and a second draw
    /// in one rule is not modelled. nil when the atoms are fine as they are now.
    static func placingDraw(_ atoms: inout [Atom]) -> UnsupportedTest? {
        let draws = atoms.indices.filter { if case .ext(let e) = atoms[$0] { e.isPendingDraw } else { false } }
        guard let at = draws.first else { return nil }
        if draws.count > 1 { return .statefulOptions("statistic", "two random draws in one rule") }
        let statefulAfter = atoms[(at + 1)...].contains { if case .ext(let e) = $0 { e.isStateful } else { false } }
        if statefulAfter { return .statefulOptions("statistic", "a stateful test after a random draw") }
        let draw = atoms.remove(at: at)
        atoms.append(draw)
        return nil
    }
}
