import LongLMAttention

/// Static NTK-aware scaling: a larger RoPE base, the same for every length.
public struct NTKMethod: RopeScalingMethod {
    public static let name = "ntk"
    public static let parameterNames = ["factor"]
    public var factor: Double

    public init(factor: Double) { self.factor = factor }
    public init(_ given: MethodArguments, config: ModelConfig) throws { factor = try RopeScalingArguments.factor(given) }

    var scaling: RopeScaling { .ntk(factor: factor) }
    func lengthBasis(config: ModelConfig) -> Int? { config.trainedContext }
}
