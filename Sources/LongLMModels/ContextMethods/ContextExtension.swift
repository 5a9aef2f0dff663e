import Foundation
import LongLMAttention

/// One context-extension method: its parameters, their defaults and ranges, the longest sequence it allows,
/// what to suggest when a prompt is longer, and the position scheme it gives the global layers. One type
/// per method, each in its own file, listed once in `ContextMethod.registry`.
public protocol ContextExtension: Sendable, Codable, CustomStringConvertible {
    /// The name `--method` takes.
    static var name: String { get }
    /// The parameters it reads, named as the command-line flags without dashes (`group-size`).
    static var parameterNames: [String] { get }
    /// From the user's values; a missing value takes this method's default for the model. Throws
    /// `ContextMethod.Failure.invalidParameter` naming the first value out of its range.
    init(_ given: MethodArguments, config: ModelConfig) throws
    /// Checks the values against a model (a method received from another rank is checked again).
    func validate(config: ModelConfig) throws
    /// The longest sequence (prompt plus generated tokens) the method keeps inside the trained positions;
    /// nil when positions put no limit on it.
    func maximumLength(config: ModelConfig) -> Int?
    /// What to change so that `tokens` fit (called only when they do not).
    func hint(forTooLong tokens: Int, config: ModelConfig) -> String
    /// The position scheme of the global layers for one sequence whose prompt has `promptLength` tokens.
    func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme
    /// Whether `scheme(for:promptLength:)` places positions differently for different prompt lengths (GALI's
    /// chunks, dynamic NTK's base): then a cached prefix is reused only for a prompt of the same length.
    func positionsDependOnPromptLength(config: ModelConfig) -> Bool
    /// Values for parameters the user left out that a sequence of `tokens` decides: the smallest setting that
    /// fits it (SelfExtend's group size, a RoPE-scaling factor). Empty when the method has nothing to choose.
    static func automaticArguments(_ given: MethodArguments, tokens: Int, config: ModelConfig) -> [String: String]
}

extension ContextExtension {
    public static func automaticArguments(_ given: MethodArguments, tokens: Int, config: ModelConfig) -> [String: String] { [:] }
}

/// The values a user gave for a method's parameters, as text, keyed by flag name without dashes; typed
/// readers check each against its stated range.
public struct MethodArguments: Sendable, Equatable {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    func invalid(_ name: String, _ allowed: String) -> ContextMethod.Failure {
        .invalidParameter(name: name, value: values[name] ?? "", allowed: allowed)
    }

    /// A whole number in `range`, or `defaultValue` when not given.
    public func int(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = values[name] else { return defaultValue }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw invalid(name, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A finite number with `lower < value <= upper` (or `lower <= value` when `lowerInclusive`).
    public func double(_ name: String, default defaultValue: Double?, above lower: Double, upTo upper: Double,
                       lowerInclusive: Bool = false) throws -> Double {
        let allowed = "a finite number \(lowerInclusive ? ">=" : ">") \(lower) and <= \(upper)"
        guard let text = values[name] else {
            guard let defaultValue else { throw ContextMethod.Failure.missingParameter(name: name, allowed: allowed) }
            return defaultValue
        }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite,
              lowerInclusive ? value >= lower : value > lower, value <= upper else { throw invalid(name, allowed) }
        return value
    }

    /// One of `choices`, or `defaultValue` when not given.
    public func choice(_ name: String, default defaultValue: String, among choices: [String]) throws -> String {
        guard let text = values[name] else { return defaultValue }
        guard choices.contains(text) else { throw invalid(name, "one of " + choices.joined(separator: ", ")) }
        return text
    }

    /// The text as given, if any.
    public func text(_ name: String) -> String? { values[name] }
}

/// Shared by the RoPE-scaling methods: the factor has no default (the user says how far to stretch), and
/// L0 defaults to the model's trained context.
enum RopeScalingArguments {
    /// Scaling factors beyond this stretch positions past any context a CPU can hold.
    static let maximumFactor = 65536.0
    /// The original (pre-scaling) context: at most 16M tokens.
    static let maximumOriginalContext = 1 << 24

    static func factor(_ given: MethodArguments) throws -> Double {
        try given.double("factor", default: nil, above: 0, upTo: maximumFactor)
    }

    static func originalContext(_ given: MethodArguments, config: ModelConfig) throws -> Int {
        try given.int("original-context", default: config.trainedContext, in: 1...maximumOriginalContext)
    }

    /// `factor * context` tokens, saturating instead of trapping.
    static func scaledLength(_ factor: Double, _ context: Int) -> Int {
        let length = factor * Double(context)
        return length >= Double(Int.max) ? Int.max : Int(length)
    }

    /// "the smallest factor that fits is --factor 2.05".
    static func factorHint(tokens: Int, original: Int) -> String {
        String(format: "the smallest factor that fits is --factor %.2f", (Double(tokens) / Double(original) * 100).rounded(.up) / 100)
    }
}

/// The RoPE-scaling methods (linear, NTK, dynamic and consistent NTK, YaRN, Llama 3): each is one `RopeScaling`
/// value, which gives the description, the checks and the scheme. `lengthBasis` is the context the factor
/// multiplies (nil: the base grows with the sequence, so no limit).
protocol RopeScalingMethod: ContextExtension {
    var scaling: RopeScaling { get }
    var factor: Double { get }
    func lengthBasis(config: ModelConfig) -> Int?
}

extension RopeScalingMethod {
    /// Without --factor: the smallest factor (to 0.01, at least 1) whose scaled context holds `tokens`. Methods
    /// whose base grows with the sequence (dynamic NTK) have no length limit and still need --factor.
    public static func automaticArguments(_ given: MethodArguments, tokens: Int, config: ModelConfig) -> [String: String] {
        guard given.values["factor"] == nil else { return [:] }
        var probe = given
        probe.values["factor"] = "1"
        guard let method = try? Self(probe, config: config), let basis = method.lengthBasis(config: config), basis > 0 else { return [:] }
        let factor = max(1, (Double(tokens) / Double(basis) * 100).rounded(.up) / 100)
        return ["factor": String(format: "%.2f", factor)]
    }

    public var description: String { scaling.name }
    public func validate(config: ModelConfig) throws { try scaling.validateAsMethod() }
    public func maximumLength(config: ModelConfig) -> Int? {
        lengthBasis(config: config).map { RopeScalingArguments.scaledLength(factor, $0) }
    }
    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String {
        lengthBasis(config: config).map { RopeScalingArguments.factorHint(tokens: tokens, original: $0) } ?? ""
    }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        scaling.scheme(for: model.config, promptLength: promptLength)
    }
    public func positionsDependOnPromptLength(config: ModelConfig) -> Bool { scaling.dependsOnPromptLength }
}

extension RopeScaling {
    /// The scheme for a model's global layers.
    func scheme(for config: ModelConfig, promptLength: Int) -> any PositionScheme {
        scheme(base: config.ropeBase, dimensions: config.headDim, pairing: config.rotaryPairing, promptLength: promptLength,
               frequencyFactors: config.frequencyFactors(sequenceLength: promptLength))
    }

    /// Dynamic and consistent NTK choose their base from the prompt length; the others do not.
    var dependsOnPromptLength: Bool {
        switch self {
        case .dynamicNTK, .consistentNTK: return true
        case .linear, .ntk, .yarn, .llama3: return false
        }
    }

    /// Checks through `validate()`, reported as a method failure.
    func validateAsMethod() throws {
        do { try validate() } catch { throw ContextMethod.Failure.invalid("\(error)") }
    }
}
