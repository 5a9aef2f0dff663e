import LongLMAttention

/// Llama 3.1's frequency-dependent scaling (`rope_type: llama3`).
public struct Llama3Method: RopeScalingMethod {
    public static let name = "llama3"
    public static let parameterNames = ["factor", "original-context", "low-freq-factor", "high-freq-factor"]
    public static let defaultLowFrequencyFactor = 1.0, defaultHighFrequencyFactor = 4.0
    public var factor: Double
    public var originalContext: Int
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double

    public init(factor: Double, originalContext: Int, lowFrequencyFactor: Double = defaultLowFrequencyFactor,
                highFrequencyFactor: Double = defaultHighFrequencyFactor) {
        self.factor = factor
        self.originalContext = originalContext
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
    }
    public init(_ given: MethodArguments, config: ModelConfig) throws {
        factor = try RopeScalingArguments.factor(given)
        originalContext = try RopeScalingArguments.originalContext(given, config: config)
        lowFrequencyFactor = try given.double("low-freq-factor", default: Self.defaultLowFrequencyFactor, above: 0, upTo: 1e4)
        highFrequencyFactor = try given.double("high-freq-factor", default: Self.defaultHighFrequencyFactor, above: 0, upTo: 1e4)
    }

    /// A file with its own frequency factors (Llama 3.1's `rope_freqs` is this very scaling) would be scaled twice.
    public func validate(config: ModelConfig) throws {
        try scaling.validateAsMethod()
        if config.ropeFrequencyFactors != nil {
            throw ContextMethod.Failure.invalid(
                "this model file already scales its RoPE frequencies (Llama 3.1's rope_freqs or Phi-3's LongRoPE factors), "
                + "which --method none applies; --method llama3 would scale them a second time. Use none within the trained "
                + "context (\(config.trainedContext) tokens), or yarn, selfextend, dca or gali beyond it")
        }
    }

    var scaling: RopeScaling {
        .llama3(factor: factor, lowFrequencyFactor: lowFrequencyFactor, highFrequencyFactor: highFrequencyFactor, originalContext: originalContext)
    }
    func lengthBasis(config: ModelConfig) -> Int? { originalContext }
}
