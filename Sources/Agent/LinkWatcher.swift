/// Follows the machine through rtnetlink: addresses, and interfaces that disappear and come
/// back. (Skeleton: filled in by the machine-events work.)
public final class LinkWatcher: @unchecked Sendable {
    let service: FirewallService
    public init(service: FirewallService) { self.service = service }
    public func start() throws {}
    public func stop() {}
}
