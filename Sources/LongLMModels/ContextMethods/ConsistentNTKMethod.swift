import LongLMAttention

/// Consistent dynamic NTK: one base for every key and the query of a step, chosen from the sequence length;
/// no length limit.
public struct ConsistentNTKMethod: RopeScalingMethod {
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
    func lengthBasis(config: ModelConfig) -> Int? { nil }
}
