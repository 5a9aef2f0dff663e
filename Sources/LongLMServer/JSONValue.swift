import Foundation

/// A JSON document as a typed tree: what request bodies are parsed into (so that a wrong type is an error naming
/// the field, never a silent coercion) and what responses are built from.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses a request body; a body that is not JSON is an `APIError` (400).
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw APIError.badRequest("the body is not valid JSON: \(Self.reason(error))")
        }
    }

    private static func reason(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        }
        return "\(error)"
    }

    /// The JSON text (object keys sorted, so output is reproducible).
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// What a value is called in an error message.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let b = try? container.decode(Bool.self) { self = .bool(b); return }
        if let d = try? container.decode(Double.self) { self = .number(d); return }
        if let s = try? container.decode(String.self) { self = .string(s); return }
        if let a = try? container.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try container.decode([String: JSONValue].self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let d):
            // Whole numbers print without a fraction (token ids, counts).
            if d == d.rounded() && abs(d) < 9e15 { try container.encode(Int64(d)) } else { try container.encode(d) }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
                     ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(Dictionary(elements) { _, last in last }) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    public init(_ value: Int) { self = .number(Double(value)) }
    public init(_ value: Double) { self = .number(value) }
    public init(_ value: String?) { self = value.map { .string($0) } ?? .null }
}

/// The fields of one JSON object in a request, read with their types and ranges checked. Every error names the
/// field by its path (`longlm.group_size`, `messages[2].content`); fields nobody reads are refused by
/// `rejectUnknown`, so a misspelt option is an error instead of being ignored.
public struct RequestFields {
    public let fields: [String: JSONValue]
    /// The path of this object, with a trailing dot ("" for the body).
    public let path: String

    public init(_ value: JSONValue, path: String = "") throws {
        guard case .object(let fields) = value else {
            throw APIError.badRequest(path.isEmpty ? "the body must be a JSON object, not \(value.kindName)"
                                                   : "'\(path.dropLast())' must be an object, not \(value.kindName)",
                                      param: path.isEmpty ? nil : String(path.dropLast()))
        }
        self.fields = fields
        self.path = path
    }

    func name(_ key: String) -> String { path + key }

    func wrongType(_ key: String, _ expected: String, _ got: JSONValue) -> APIError {
        .badRequest("'\(name(key))' must be \(expected), not \(got.kindName)", param: name(key))
    }

    /// The value, with JSON null read as absent (what OpenAI clients send for unset options).
    public func value(_ key: String) -> JSONValue? {
        guard let v = fields[key], v != .null else { return nil }
        return v
    }

    public func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, "a string", v) }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, "a boolean", v) }
        return b
    }

    public func double(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard case .number(let d) = v else { throw wrongType(key, "a number", v) }
        guard d.isFinite, range.contains(d) else {
            throw APIError.badRequest("'\(name(key))' is \(d): it must be from \(range.lowerBound) to \(range.upperBound)", param: name(key))
        }
        return d
    }

    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard case .number(let d) = v else { throw wrongType(key, "an integer", v) }
        guard d == d.rounded(), abs(d) < 9e15 else { throw wrongType(key, "an integer", v) }
        guard range.contains(Int(d)) else {
            throw APIError.badRequest("'\(name(key))' is \(Int(d)): it must be from \(range.lowerBound) to \(range.upperBound)", param: name(key))
        }
        return Int(d)
    }

    public func array(_ key: String) throws -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .array(let a) = v else { throw wrongType(key, "an array", v) }
        return a
    }

    public func object(_ key: String) throws -> RequestFields? {
        guard let v = value(key) else { return nil }
        return try RequestFields(v, path: name(key) + ".")
    }

    /// Refuses fields outside `known`, naming the first (sorted) one.
    public func rejectUnknown(_ known: Set<String>) throws {
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.badRequest("unknown field '\(name(unknown))'", param: name(unknown))
        }
    }
}
