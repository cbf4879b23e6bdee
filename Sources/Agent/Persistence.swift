import Runtime

/// The ruleset kept across reboots, as netfilter-persistent keeps iptables': files under
/// the configuration directory, written after every successful change and restored when
/// the agent starts. (Skeleton: filled in by the persistence work.)
public struct Persistence: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Saves what the kernel holds after each change the service completes.
    public func follow(_ service: FirewallService) {}

    /// At start, before any front end listens: brings the saved ruleset back (the pins are
    /// gone after a reboot). Returns what it did, for the log.
    public func restoreAtStart(_ service: FirewallService) throws -> String { "" }
}
