import Foundation

/// An error answered to an HTTP client, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public let type: String
    /// The request field at fault, if one is.
    public let param: String?
    /// Seconds after which a retry may succeed (503 when the queue is full).
    public let retryAfter: Int?

    public init(status: Int, message: String, type: String, param: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ message: String, param: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    public static func tooLarge(limit: Int) -> APIError {
        APIError(status: 413, message: "the request body is larger than the server's limit of \(limit) bytes (--max-body-bytes)",
                 type: "invalid_request_error")
    }

    public static func queueFull(capacity: Int) -> APIError {
        APIError(status: 503, message: "the server is busy: \(capacity) requests are already waiting; retry later",
                 type: "server_busy", retryAfter: 1)
    }

    public static let loading = APIError(status: 503, message: "the model is loading", type: "unavailable_error", retryAfter: 1)

    public static let shuttingDown = APIError(status: 503, message: "the server is shutting down", type: "unavailable_error")

    public static func server(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error")
    }

    public var description: String { "\(status) \(type): \(message)" }

    public var body: JSONValue {
        ["error": ["message": .string(message), "type": .string(type), "param": JSONValue(param), "code": .null]]
    }
}
