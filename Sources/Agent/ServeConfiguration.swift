/// Everything `ebpf-iptables serve` was told on its command line, shared by the front ends.
public struct ServeConfiguration: Sendable, Equatable {
    /// The Unix control socket the CLI forwards its commands to.
    public var controlSocket: String
    /// The HTTPS listener, when `--listen` is given.
    public var https: HTTPSConfiguration?
    /// Where the ruleset is kept across reboots (`EBPF_IPTABLES_CONFIG`, /etc/ebpf-iptables).
    public var configDir: String

    public init(controlSocket: String, configDir: String, https: HTTPSConfiguration? = nil) {
        self.controlSocket = controlSocket
        self.configDir = configDir
        self.https = https
    }
}

/// `serve --listen ADDR:PORT --cert FILE --key FILE --tokens FILE [--client-ca FILE]`.
public struct HTTPSConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var certificateFile: String
    public var keyFile: String
    /// Bearer tokens, one per line.
    public var tokensFile: String
    /// With it, clients must present a certificate this CA signed (mutual TLS).
    public var clientCAFile: String?

    public init(host: String, port: Int, certificateFile: String, keyFile: String, tokensFile: String, clientCAFile: String? = nil) {
        self.host = host
        self.port = port
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.tokensFile = tokensFile
        self.clientCAFile = clientCAFile
    }
}
