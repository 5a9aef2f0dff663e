import Foundation
import LongLMModels

/// The fields that define one result of an evaluation (a passkey trial, a needle cell): a rerun reuses a
/// record of an earlier run only when the record has every one of them, equal. Anything that changes the
/// prompt or the answer belongs here, or a rerun with other settings would report the old numbers.
public struct ResultKey {
    public enum Value: Equatable {
        case text(String)
        case integer(Int)
        case number(Double)
        /// A JSON boolean. `false` also matches a record without the field: a setting added later (chat) is off
        /// in the records written before it existed.
        case flag(Bool)
    }
    public private(set) var fields: [(name: String, value: Value)]

    public init(_ fields: KeyValuePairs<String, Value>) {
        self.fields = fields.map { (name: $0.key, value: $0.value) }
    }

    public mutating func append(_ name: String, _ value: Value) {
        fields.append((name, value))
    }

    public func appending(_ more: KeyValuePairs<String, Value>) -> ResultKey {
        var key = self
        for (name, value) in more { key.append(name, value) }
        return key
    }

    /// The fields as JSON values, to be stored in the record.
    public var object: [String: Any] {
        var object: [String: Any] = [:]
        for (name, value) in fields {
            switch value {
            case .text(let s): object[name] = s
            case .integer(let n): object[name] = n
            case .number(let x): object[name] = x
            case .flag(let b): object[name] = b
            }
        }
        return object
    }

    public func matches(_ record: [String: Any]) -> Bool {
        fields.allSatisfy { name, value in
            switch value {
            case .text(let s): return record[name] as? String == s
            case .integer(let n): return !isJSONBoolean(record[name]) && record[name] as? Int == n
            // A JSON round trip keeps a double exactly; the slack only forgives a writer that rounds its last digit.
            case .number(let x): return (record[name] as? Double).map { abs($0 - x) <= 1e-12 * max(1, abs(x)) } ?? false
            case .flag(let b): return isJSONBoolean(record[name]) ? record[name] as? Bool == b : !b && record[name] == nil
            }
        }
    }
}

extension ResultKey {
    /// The key with how the prompt was asked: "chat" (false for a plain prompt) and, for a chat turn, its
    /// "chat_template" and "system" ("" without one), so chat and plain runs never answer for each other.
    public func appendingChat(_ turn: ChatTurn?) -> ResultKey {
        guard let turn else { return appending(["chat": .flag(false)]) }
        return appending(["chat": .flag(true), "chat_template": .text(turn.template.name), "system": .text(turn.system ?? "")])
    }
}

/// A short fingerprint of a text (64-bit FNV-1a, hex) that tells two haystacks apart in a record without
/// storing them.
public func fingerprint(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return String(format: "%016llx", hash)
}
