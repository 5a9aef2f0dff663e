import Foundation

/// Reads the JSON files that come with a checkpoint (config.json, tokenizer.json, ...) with errors that name the
/// file and say what is wrong, and reads JSON values strictly: a number is never a boolean, an integer has no
/// fraction and fits in an Int.
enum JSONFile {
    struct Failure: Error, CustomStringConvertible {
        let path: String
        let detail: String
        var description: String { "\(path): \(detail)" }
    }

    /// The top-level object of the JSON file at `path`.
    static func object(at path: String) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Failure(path: path, detail: "cannot read the file (\(reason(error)))")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw Failure(path: path, detail: "not valid JSON: \(reason(error))")
        }
        guard let object = parsed as? [String: Any] else {
            throw Failure(path: path, detail: "the top level is \(kind(of: parsed)), not a JSON object")
        }
        return object
    }

    /// Foundation's own explanation ("Invalid value around character 6."), not "NSCocoaErrorDomain Code=3840".
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let debug = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return debug }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return underlying.localizedDescription }
        return ns.localizedDescription
    }

    /// JSON `true`/`false` arrive as NSNumber too (objCType "c"); `as? Int` alone would read `true` as 1.
    static func isBoolean(_ value: Any?) -> Bool {
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    static func boolean(_ value: Any?) -> Bool? { isBoolean(value) ? (value as? Bool) : nil }

    /// An integral JSON number that fits in an Int.
    static func integer(_ value: Any?) -> Int? {
        guard let value, !isBoolean(value), value is NSNumber else { return nil }
        return value as? Int
    }

    static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let n = integer(element) else { return nil }
            out.append(n)
        }
        return out
    }

    /// A finite JSON number.
    static func number(_ value: Any?) -> Double? {
        guard let value, !isBoolean(value), let n = value as? NSNumber else { return nil }
        let d = n.doubleValue
        return d.isFinite ? d : nil
    }

    /// A JSON value for an error message: short, with its kind.
    static func describe(_ value: Any) -> String {
        if let s = value as? String { return "the string \(quoted(s))" }
        if isBoolean(value) { return "the boolean \(value as? Bool ?? false)" }
        if let n = value as? NSNumber { return "the number \(quoted(n.stringValue))" }
        return kind(of: value)
    }

    static func kind(of value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return isBoolean(value) ? "a boolean" : (value is NSNumber ? "a number" : "\(type(of: value))")
        }
    }
}
