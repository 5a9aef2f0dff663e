import LongLMAttention

/// Position interpolation: positions divided by the factor (replaces the checkpoint's own scaling).
public struct LinearScalingMethod: RopeScalingMethod {
    public static let name = "linear"
    public static let parameterNames = ["factor"]
    public var factor: Double

    public init(factor: Double) { self.factor = factor }
    public init(_ given: MethodArguments, config: ModelConfig) throws { factor = try RopeScalingArguments.factor(given) }

    var scaling: RopeScaling { .linear(factor: factor) }
    func lengthBasis(config: ModelConfig) -> Int? { config.trainedContext }
}
