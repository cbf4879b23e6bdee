import Hummingbird
import NIOCore

/// A request's context: who is logged in (filled by `SessionMiddleware`) and the posted
/// form fields (parsed once, by the CSRF check).
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var user: String?
    public var csrf: String?
    public var sessionToken: String?
    public var form: [String: String] = [:]
    /// The client's IP address (the TCP peer: a proxy in front would be the one counted by
    /// the login throttle), nil for a Unix socket.
    public var clientAddress: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// An import file of a few MB, no more.
    public var maxUploadSize: Int { 8 << 20 }
}
