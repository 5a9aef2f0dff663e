import ArgumentParser
import LongLMAttention
import LongLMModels

/// Context-extension methods, shared by every command that runs a model.
struct ContextOptions: ParsableArguments {
    enum Method: String, ExpressibleByArgument, CaseIterable {
        case none, linear, ntk, dynamicNTK = "dynamic-ntk", consistentNTK = "consistent-ntk", yarn, llama3
        case selfextend, dca, gali
    }

    @Option(help: "Context-extension method for the global attention layers.")
    var method: Method = .none

    @Option(help: "RoPE scaling factor (linear, ntk, dynamic-ntk, consistent-ntk, yarn, llama3).")
    var factor: Double?

    @Option(help: "RoPE scaling: the original context L0 (default: the model's trained context).")
    var originalContext: Int?

    @Option(help: "YaRN: beta_fast.") var yarnBetaFast: Double = 32
    @Option(help: "YaRN: beta_slow.") var yarnBetaSlow: Double = 1
    @Option(help: "Llama 3: low_freq_factor.") var lowFreqFactor: Double = 1
    @Option(help: "Llama 3: high_freq_factor.") var highFreqFactor: Double = 4

    @Option(name: [.customLong("group-size"), .customLong("grp-attn-n")],
            help: "SelfExtend: group size G (positions farther than the window are divided by G).")
    var groupSize: Int = 4

    @Option(name: [.customLong("window"), .customLong("grp-attn-w")],
            help: "SelfExtend: neighbour window W, a multiple of G (default: a quarter of the trained context, rounded to G).")
    var window: Int?

    @Option(help: "DCA: chunk size S, the largest query position used (default: 3/4 of the trained context).")
    var chunkSize: Int?

    @Option(help: "DCA: local window w, chunks are S - w tokens (default: 1/8 of the trained context). GALI: tokens kept at exact positions (default 128).")
    var localWindow: Int?

    @Option(help: ArgumentHelp("GALI: prompt chunk after the first T tokens; an integer is a size, a fraction (0.5) a ratio of the tokens so far.", valueName: "C"))
    var galiChunk: String = "3000"

    @Option(help: "GALI: interpolated (the paper's intent) or reference-bf16 (what the released bf16 code computes: no interpolation, no noise).")
    var galiMode: GALIModeArgument = .interpolated

    @Option(help: "GALI: logit noise on interpolated keys.")
    var noise: GALINoiseArgument = .gaussian

    @Option(help: "Random seed: sampling (generate) and GALI's noise.")
    var seed: UInt64 = 0

    @Flag(help: "LogN scaling: multiply the query at position i by max(1, ln(i+1)/ln(L)); combines with any method.")
    var logn = false

    @Flag(help: "Run even if the sequence is longer than the method allows (results are expected to degrade).")
    var noWindowCheck = false

    func validate() throws {
        let scaled: [Method] = [.linear, .ntk, .dynamicNTK, .consistentNTK, .yarn, .llama3]
        if scaled.contains(method) && factor == nil { throw ValidationError("--method \(method.rawValue) needs --factor") }
        if GALIChunk(galiChunk) == nil { throw ValidationError("--gali-chunk must be a positive integer (size) or a fraction (ratio), got '\(galiChunk)'") }
    }

    /// The method for a model with this configuration.
    func method(for config: ModelConfig) -> ContextMethod {
        let L = config.trainedContext
        switch method {
        case .none:
            return ContextMethod(.none, logN: logn)
        case .linear, .ntk, .dynamicNTK, .consistentNTK, .yarn, .llama3:
            let f = factor ?? 1, original = originalContext ?? L
            let scaling: RopeScaling
            switch method {
            case .linear: scaling = .linear(factor: f)
            case .ntk: scaling = .ntk(factor: f)
            case .dynamicNTK: scaling = .dynamicNTK(factor: f, originalContext: original)
            case .consistentNTK: scaling = .consistentNTK(factor: f, originalContext: original)
            case .yarn: scaling = .yarn(factor: f, originalContext: original, betaFast: yarnBetaFast, betaSlow: yarnBetaSlow, attentionFactor: nil)
            default: scaling = .llama3(factor: f, lowFrequencyFactor: lowFreqFactor, highFrequencyFactor: highFreqFactor, originalContext: original)
            }
            return ContextMethod(.ropeScaling(scaling), logN: logn)
        case .selfextend:
            let w = window ?? max(groupSize, L / 4 / groupSize * groupSize)
            return ContextMethod(.selfExtend(groupSize: groupSize, window: w), logN: logn)
        case .gali:
            return ContextMethod(.gali(localWindow: localWindow ?? 128, chunk: GALIChunk(galiChunk) ?? .size(0),
                                       mode: galiMode.mode, noise: noise.noise, seed: seed), logN: logn)
        case .dca:
            let defaults = (chunkSize: 3 * L / 4, localWindow: L / 8)
            return ContextMethod(.dualChunk(chunkSize: chunkSize ?? defaults.chunkSize, localWindow: localWindow ?? defaults.localWindow), logN: logn)
        }
    }
}

extension ContextOptions {
    /// The method, validated against the model, and the length check for a sequence of `tokens` (skipped
    /// with --no-window-check, with a warning). Errors exit with one line.
    func resolved(for config: ModelConfig, tokens: Int) -> ContextMethod {
        let m = method(for: config)
        reportingErrors {
            try m.validate(config: config)
            do { try m.checkLength(tokens, config: config) } catch {
                guard noWindowCheck else { throw error }
                log("warning: \(error) (continuing: --no-window-check)")
            }
        }
        return m
    }
}

enum GALIModeArgument: String, ExpressibleByArgument, CaseIterable {
    case interpolated, referenceBF16 = "reference-bf16"
    var mode: GALIMode { self == .interpolated ? .interpolated : .referenceBF16 }
}

enum GALINoiseArgument: String, ExpressibleByArgument, CaseIterable {
    case gaussian, none
    var noise: GALINoise { self == .gaussian ? .gaussian : .none }
}
