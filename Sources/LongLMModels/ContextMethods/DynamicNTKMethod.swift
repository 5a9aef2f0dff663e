import LongLMAttention

/// Dynamic NTK (transformers' `rope_type: dynamic`): the base grows with the sequence length, so there is
/// no length limit.
public struct DynamicNTKMethod: ContextExtension {
    public static let name = "dynamic-ntk"
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

    var scaling: RopeScaling { .dynamicNTK(factor: factor, originalContext: originalContext) }
    public var description: String { scaling.name }
    public func validate(config: ModelConfig) throws { try scaling.validateAsMethod() }
    public func maximumLength(config: ModelConfig) -> Int? { nil }
    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String { "" }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        scaling.scheme(for: model.config, promptLength: promptLength)
    }
}
