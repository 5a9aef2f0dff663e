import Foundation
import LongLMModels

/// Bounds on what an evaluation asks for, checked before any prompt is built: a typo such as a length of
/// 2^63-1 would otherwise grow memory until the machine gives up.
public enum EvaluationLimits {
    /// The longest prompt any evaluation builds (a KV cache this long is already hundreds of GB on Gemma 3).
    public static let promptTokens = 10_000_000
    /// The most tokens one generation may ask for.
    public static let newTokens = 1_000_000

    public struct Failure: Error, CustomStringConvertible {
        public var option: String
        public var length: Int
        public var reason: String
        public var description: String { "\(option) \(length): \(reason)" }
    }

    /// Refuses any length whose prompt plus answer the method cannot position (see
    /// `ContextMethod.checkLength`); `option` names the flag in the message.
    public static func checkLengths(_ lengths: [Int], maxNewTokens: Int, option: String, method: ContextMethod,
                                    config: ModelConfig) throws {
        for length in lengths {
            guard (1...promptTokens).contains(length), (1...newTokens).contains(maxNewTokens) else {
                throw Failure(option: option, length: length, reason: "lengths must be in 1...\(promptTokens) and answers in 1...\(newTokens) tokens")
            }
            do { try method.checkLength(length + maxNewTokens - 1, config: config) } catch {
                throw Failure(option: option, length: length, reason: "\(error) (or --no-window-check)")
            }
        }
    }
}
