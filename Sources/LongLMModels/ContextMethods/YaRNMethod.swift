import LongLMAttention

/// YaRN (transformers' `rope_type: yarn`): per-frequency interpolation between the original and scaled
/// positions, with the logit temperature 0.1 ln(s) + 1.
public struct YaRNMethod: RopeScalingMethod {
    public static let name = "yarn"
    public static let parameterNames = ["factor", "original-context", "yarn-beta-fast", "yarn-beta-slow"]
    public static let defaultBetaFast = 32.0, defaultBetaSlow = 1.0
    public var factor: Double
    public var originalContext: Int
    public var betaFast: Double
    public var betaSlow: Double

    public init(factor: Double, originalContext: Int, betaFast: Double = defaultBetaFast, betaSlow: Double = defaultBetaSlow) {
        self.factor = factor
        self.originalContext = originalContext
        self.betaFast = betaFast
        self.betaSlow = betaSlow
    }
    public init(_ given: MethodArguments, config: ModelConfig) throws {
        factor = try RopeScalingArguments.factor(given)
        originalContext = try RopeScalingArguments.originalContext(given, config: config)
        // The betas count rotations over the original context: a few hundred at most for any head dimension.
        betaFast = try given.double("yarn-beta-fast", default: Self.defaultBetaFast, above: 0, upTo: 1e4)
        betaSlow = try given.double("yarn-beta-slow", default: Self.defaultBetaSlow, above: 0, upTo: 1e4)
    }

    var scaling: RopeScaling { .yarn(factor: factor, originalContext: originalContext, betaFast: betaFast, betaSlow: betaSlow, attentionFactor: nil) }
    func lengthBasis(config: ModelConfig) -> Int? { originalContext }
}
