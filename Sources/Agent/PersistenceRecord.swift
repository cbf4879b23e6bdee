import Compiler
import Foundation

/// What `attachment.json` under the configuration directory says: the interface the
/// program goes back on at start (and when the interface returns), its XDP mode, and how
/// the ruleset is compiled. Written by an `attach` or a restore that succeeded, removed by
/// a `detach` that succeeded; never by a program found gone (an interface that
/// disappeared is still wanted).
public struct PersistedAttachment: Codable, Equatable, Sendable {
    public var interface: String
    public var mode: String
    public var rejectAsDrop: Bool
    public var xdpOnly: Bool

    public init(interface: String, mode: String, options: CompileOptions = CompileOptions()) {
        self.interface = interface
        self.mode = mode
        rejectAsDrop = options.rejectAsDrop
        xdpOnly = options.xdpOnly
    }

    public var options: CompileOptions { CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: xdpOnly) }

    static func decode(_ text: String?) -> PersistedAttachment? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(PersistedAttachment.self, from: Data(text.utf8))
    }

    var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: (try? e.encode(self)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }
}
