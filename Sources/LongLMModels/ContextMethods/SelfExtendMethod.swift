import LongLMAttention

/// SelfExtend: keys within the neighbour window W keep their exact distance; farther ones are grouped by G
/// (floor division) and shifted so the two regimes meet at W.
public struct SelfExtendMethod: ContextExtension {
    public static let name = "selfextend"
    public static let parameterNames = ["group-size", "window"]
    public static let defaultGroupSize = 4
    public var groupSize: Int
    public var window: Int

    public init(groupSize: Int, window: Int) {
        self.groupSize = groupSize
        self.window = window
    }

    /// The window defaults to a quarter of the trained context, rounded down to a multiple of G (at least G).
    public init(_ given: MethodArguments, config: ModelConfig) throws {
        let L = config.trainedContext
        groupSize = try given.int("group-size", default: Self.defaultGroupSize, in: 1...max(1, L - 1))
        window = try given.int("window", default: Self.defaultWindow(trainedContext: L, groupSize: groupSize), in: 1...max(1, L - 1))
    }

    /// Without --group-size: the smallest G whose reach (L - W) * G + W holds `tokens`, with the given window or
    /// the default window for that G (so G = 1, plain attention, when the sequence fits the trained context).
    public static func automaticArguments(_ given: MethodArguments, tokens: Int, config: ModelConfig) -> [String: String] {
        guard given.values["group-size"] == nil else { return [:] }
        let L = config.trainedContext
        let window = given.values["window"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var size = 1
        while size < L {
            let W = window ?? defaultWindow(trainedContext: L, groupSize: size)
            if W < L, W % size == 0, (L - W) * size + W >= tokens { return ["group-size": "\(size)"] }
            size += 1
        }
        return [:]
    }

    /// A quarter of the trained context, rounded down to a multiple of G (at least G).
    public static func defaultWindow(trainedContext L: Int, groupSize G: Int) -> Int { max(G, L / 4 / G * G) }

    public var description: String { "selfextend (group size \(groupSize), window \(window))" }

    public func validate(config: ModelConfig) throws {
        let L = config.trainedContext
        guard groupSize >= 1 && groupSize < L else {
            throw ContextMethod.Failure.invalidParameter(name: "group-size", value: "\(groupSize)", allowed: "a whole number from 1 to \(L - 1)")
        }
        guard window >= 1 && window < L else {
            throw ContextMethod.Failure.invalidParameter(name: "window", value: "\(window)", allowed: "a whole number from 1 to \(L - 1), below the trained context")
        }
        guard window % groupSize == 0 else {
            let choices = [window / groupSize * groupSize, (window / groupSize + 1) * groupSize].filter { $0 >= 1 && $0 < L }.map { "--window \($0)" }
            throw ContextMethod.Failure.invalid("--window \(window) must be a multiple of --group-size \(groupSize) (the shift W - W/G must be an integer)"
                                                + (choices.isEmpty ? "" : "; try " + choices.joined(separator: " or ")))
        }
    }

    public func maximumLength(config: ModelConfig) -> Int? {
        // (L - W) * G + W, saturating: the ranges keep it small, but a decoded request is not range-checked.
        let (product, overflow) = (config.trainedContext - window).multipliedReportingOverflow(by: groupSize)
        let (sum, overflowAgain) = product.addingReportingOverflow(window)
        return overflow || overflowAgain ? Int.max : sum
    }

    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String {
        let L = config.trainedContext
        guard let group = Self.smallestGroupSize(tokens: tokens, trainedContext: L, window: window) else {
            return "no group size fits a trained context of \(L); use --method dca or --method gali"
        }
        return "the smallest group size that fits with --window \(window) is --group-size \(group.size)"
            + (group.window != window ? " (with --window \(group.window), a multiple of it)" : "")
    }

    /// Smallest G with (L - W) * G + W >= tokens; if W is not a multiple of G, the nearest window below W that
    /// is (or G itself when G > W). Nil when no group size fits (tokens beyond about L²/4).
    static func smallestGroupSize(tokens: Int, trainedContext L: Int, window W: Int) -> (size: Int, window: Int)? {
        guard W < L else { return nil }
        var size = max(1, (tokens - W + (L - W) - 1) / (L - W))
        while size < L {
            let window = max(size, W / size * size)
            if window < L && (L - window) * size + window >= tokens { return (size, window) }
            size += 1
        }
        return nil
    }

    public func positionsDependOnPromptLength(config: ModelConfig) -> Bool { false }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        SelfExtend(groupSize: groupSize, window: window, table: model.rotary(sequenceLength: promptLength))
    }
}
