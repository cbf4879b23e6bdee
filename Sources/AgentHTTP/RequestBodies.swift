import IptParse

/// The JSON bodies the API accepts (docs/openapi.yaml, components/schemas). Each lists its
/// fields for `JSONBody`, which refuses any other.
struct RuleBody: Decodable {
    static let fields: Set<String> = ["rule", "position", "family"]
    var rule: String
    /// 1-based: insert before that rule (`-I CHAIN N`); absent: append (`-A`).
    var position: Int?
    var family: Family?
}

struct ReplaceBody: Decodable {
    static let fields: Set<String> = ["rule", "family"]
    var rule: String
    var family: Family?
}

struct DeleteRuleBody: Decodable {
    static let fields: Set<String> = ["rule", "family"]
    var rule: String
    var family: Family?
}

struct PolicyBody: Decodable {
    static let fields: Set<String> = ["policy", "family"]
    var policy: String
    var family: Family?
}

struct CreateSetBody: Decodable {
    static let fields: Set<String> = ["name", "type", "options"]
    var name: String
    /// `hash:ip`, `hash:net,port`, ... (ipset's names).
    var type: String
    /// ipset's create options as words: `["family", "inet", "maxelem", "65536"]`.
    var options: [String]?
}

struct MemberBody: Decodable {
    static let fields: Set<String> = ["member", "options"]
    var member: String
    /// ipset's add options as words: `["timeout", "60"]`, `["nomatch"]`.
    var options: [String]?
}

struct MembersBody: Decodable {
    static let fields: Set<String> = ["members"]
    var members: [String]
}

struct RestoreBody: Decodable {
    static let fields: Set<String> = ["rules", "ipsets", "family", "noflush", "test"]
    /// iptables-save text: every table, applied atomically.
    var rules: String
    /// ipset save text, applied first.
    var ipsets: String?
    var family: Family?
    var noflush: Bool?
    var test: Bool?
}

struct MigrationBody: Decodable {
    static let fields: Set<String> = ["rules", "ipsets", "interface", "rejectAsDrop", "xdpOnly"]
    var rules: String
    var ipsets: String?
    var interface: String?
    var rejectAsDrop: Bool?
    var xdpOnly: Bool?
}

/// What an edit did: the stood-in tool's words and its answer.
struct Outcome: Encodable {
    var command: [String]
    var status: Int32
    var stdout: String
    var stderr: String
}
