import Foundation

/// Where an installation keeps its pins and its state, and the name of every state file.
/// Both roots move with environment variables, so tests and several namespaces never share
/// state by accident.
public struct Paths: Sendable, Equatable {
    public var pinRoot: String
    public var stateDir: String
    /// The ruleset kept across reboots (docs/agent.md): survives what bpffs does not.
    public var configDir: String

    public init(pinRoot: String, stateDir: String, configDir: String = "/etc/ebpf-iptables") {
        self.pinRoot = pinRoot
        self.stateDir = stateDir
        self.configDir = configDir
    }

    /// `EBPF_IPTABLES_BPFFS`, `EBPF_IPTABLES_STATE` and `EBPF_IPTABLES_CONFIG`, else the defaults.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Paths {
        Paths(pinRoot: env["EBPF_IPTABLES_BPFFS"] ?? "/sys/fs/bpf/ebpf-iptables",
              stateDir: env["EBPF_IPTABLES_STATE"] ?? "/var/lib/ebpf-iptables",
              configDir: env["EBPF_IPTABLES_CONFIG"] ?? "/etc/ebpf-iptables")
    }

    /// The agent's control socket: the CLI forwards its commands there when it answers.
    public var agentSocket: String { stateDir + "/agent.sock" }

    /// What `attach` recorded (interface and mode).
    public var attachmentFile: String { stateDir + "/attachment.json" }
    /// `--reject-as-drop`, `--xdp-only`: how the running ruleset is compiled.
    public var optionsFile: String { stateDir + "/compile-options" }
    public var lockFile: String { stateDir + "/lock" }
    /// The kernel's IPv4 ruleset (`iptables-save` without counters) the live generation was
    /// compiled from: a cache of the kernel layer, never the truth.
    public var kernelRulesFile: String { stateDir + "/kernel.v4" }
    /// The kernel's sets (`ipset save`) the live generation was compiled from, and the
    /// single-member edits since (`kernel.ipset.journal`): a cache, like kernel.v4.
    public var kernelSetsFile: String { stateDir + "/kernel.ipset" }
    public var kernelSetsJournal: String { stateDir + "/kernel.ipset.journal" }
    /// With `--xdp-only`, filter INPUT (policy and rules) lives here and not in the kernel.
    public var xdpOnlyInputFile: String { stateDir + "/input.v4" }
    /// XDP's drop counts of rules whose generation was replaced, kept per rule.
    public var retiredCountersFile: String { stateDir + "/counters.retired" }
    /// For each position of the live generation, the rules its drops are counted for.
    public var livePositionsFile: String { stateDir + "/positions" }
    /// Per `reject` position of the live generation, the rules its replies count on.
    public var liveReplyPositionsFile: String { stateDir + "/reply-positions" }
    /// Things an operator (and the tests) should know: predictions the kernel contradicted,
    /// kernel changes made behind our back.
    public var eventsFile: String { stateDir + "/events.log" }
}
