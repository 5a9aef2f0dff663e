import LongLMAttention

/// Dynamic NTK (transformers' `rope_type: dynamic`): the base grows with the sequence length, so there is
/// no length limit.
public struct DynamicNTKMethod: RopeScalingMethod {
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
    func lengthBasis(config: ModelConfig) -> Int? { nil }
}
