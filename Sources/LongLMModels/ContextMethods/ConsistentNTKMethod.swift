import LongLMAttention

/// Consistent dynamic NTK: one base for every key and the query of a step, chosen from the sequence length;
/// no length limit.
public struct ConsistentNTKMethod: ContextExtension {
    public static let name = "consistent-ntk"
    public static let parameterNames = ["factor", "original-context"]
    public var factor: Double
    public var originalContext: Int

    public init(factor: Double, originalContext: Int) {
        self.factor = factor
        self.originalContext = originalContext
    }
    public init(_ given: MethodArguments, config: ModelConfig) throws {
        factor = try RopeScalingArguments.factor(given)
        originalContext = try RopeScalingArguments.originalContext(given, config: config)
    }

    var scaling: RopeScaling { .consistentNTK(factor: factor, originalContext: originalContext) }
    public var description: String { scaling.name }
    public func validate(config: ModelConfig) throws { try scaling.validateAsMethod() }
    public func maximumLength(config: ModelConfig) -> Int? { nil }
    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String { "" }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        scaling.scheme(for: model.config, promptLength: promptLength)
    }
}
