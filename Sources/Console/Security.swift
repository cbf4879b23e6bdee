import Foundation
import HummingbirdBcrypt

/// The console's secrets: session tokens, CSRF tokens and password hashes.
public enum Security {
    /// bcrypt's work factor for new passwords: 2^12 rounds (about a quarter of a second
    /// here), above the brief's floor of 10 and OWASP's.
    public static let bcryptCost: UInt8 = 12
    public static let sessionCookie = "ebpf_console_session"
    public static let loginCookie = "ebpf_console_login"

    /// 256 random bits as 64 hex digits, from the system's CSPRNG (getrandom on Linux).
    public static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
    }

    public static func hash(password: String) -> String { Bcrypt.hash(password, cost: bcryptCost) }

    public static func verify(password: String, hash: String) -> Bool { Bcrypt.verify(password, hash: hash) }

    /// Equal strings, compared in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    /// A hash to compare against when the user does not exist, so a wrong user name costs
    /// the same bcrypt time as a wrong password (no user enumeration by timing).
    static let decoyHash = Bcrypt.hash(randomToken(), cost: bcryptCost)
}

/// `application/x-www-form-urlencoded` fields (what an HTML form posts); a repeated name
/// keeps its last value.
public enum FormBody {
    public static func parse(_ body: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            out[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return out
    }
}

/// `multipart/form-data` (a form with a file input): each part's `name` and its content as
/// text; a file part also under `NAME.filename`. Enough for the import form: text files.
public enum MultipartBody {
    /// The boundary of a `multipart/form-data; boundary=…` content type, or nil.
    public static func boundary(contentType: String) -> String? {
        guard contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    public static func parse(_ body: String, boundary: String) -> [String: String] {
        var out: [String: String] = [:]
        let delimiter = "--" + boundary
        for rawPart in body.components(separatedBy: delimiter).dropFirst() {
            if rawPart.hasPrefix("--") { break }  // the closing delimiter
            // "\r\n" is one Character (one grapheme cluster) in Swift: drop it as one.
            var part = Substring(rawPart)
            if part.hasPrefix("\r\n") { part = part.dropFirst() }
            if part.hasSuffix("\r\n") { part = part.dropLast() }
            guard let split = part.range(of: "\r\n\r\n") else { continue }
            let head = part[..<split.lowerBound], content = String(part[split.upperBound...])
            var name: String?, filename: String?
            for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
                for param in line.split(separator: ";").dropFirst() {
                    let kv = param.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { continue }
                    let value = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    if kv[0] == "name" { name = value } else if kv[0] == "filename" { filename = value }
                }
            }
            guard let name else { continue }
            out[name] = content
            if let filename { out[name + ".filename"] = filename }
        }
        return out
    }
}
