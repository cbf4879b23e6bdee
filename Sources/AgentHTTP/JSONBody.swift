import Foundation
import Hummingbird

/// A request body read strictly: JSON, an object, only the fields the endpoint knows, each
/// of its type. Every refusal names the field (400), so a typo never passes silently.
enum JSONBody {
    /// Large enough for a whole ruleset or a set of a million members.
    static let limit = 256 << 20

    static func decode<T: Decodable>(_ type: T.Type, from request: Request, fields: Set<String>) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, "too-large", "the body is larger than \(limit) bytes")
        }
        let data = Data(buffer.readableBytesView)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw APIError(.badRequest, "bad-json", data.isEmpty ? "the body is empty: expected a JSON object" : "malformed JSON: \(Self.reason(error))")
        }
        guard let dict = object as? [String: Any] else {
            throw APIError(.badRequest, "bad-json", "expected a JSON object")
        }
        if let unknown = dict.keys.sorted().first(where: { !fields.contains($0) }) {
            throw APIError.badField(unknown, "unknown field '\(unknown)' (known: \(fields.sorted().joined(separator: ", ")))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let e as DecodingError {
            throw Self.fieldError(e)
        }
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }

    static func fieldError(_ e: DecodingError) -> APIError {
        func path(_ p: [CodingKey]) -> String {
            p.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch e {
        case let .keyNotFound(key, ctx):
            let f = path(ctx.codingPath + [key])
            return .badField(f, "missing field '\(f)'")
        case let .typeMismatch(type, ctx):
            return .badField(path(ctx.codingPath), "field '\(path(ctx.codingPath))': expected \(Self.name(type))")
        case let .valueNotFound(type, ctx):
            return .badField(path(ctx.codingPath), "field '\(path(ctx.codingPath))': expected \(Self.name(type)), got null")
        case let .dataCorrupted(ctx):
            return .badField(path(ctx.codingPath), "field '\(path(ctx.codingPath))': \(ctx.debugDescription)")
        @unknown default:
            return APIError(.badRequest, "bad-json", "\(e)")
        }
    }

    static func name(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type: return "an integer"
        case is [String].Type: return "an array of strings"
        default: return "\(type)"
        }
    }
}
