import ArgumentParser
import LongLMAttention
import LongLMModels

/// Context-extension methods, shared by every command that runs a model. The options only carry what the
/// user typed; each method type (LongLMModels/ContextMethods) owns its defaults, ranges and checks.
struct ContextOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Context-extension method for the global attention layers: \(ContextMethod.names.joined(separator: ", ")).", valueName: "name"))
    var method: String = PlainMethod.name

    @Option(help: "RoPE scaling factor (linear, ntk, dynamic-ntk, consistent-ntk, yarn, llama3). generate, logits and info --tokens choose the smallest that fits the sequence when it is left out (dynamic and consistent NTK always need it).")
    var factor: Double?

    @Option(help: "RoPE scaling: the original context L0 (default: the model's trained context).")
    var originalContext: Int?

    @Option(help: "YaRN: beta_fast (default \(YaRNMethod.defaultBetaFast)).") var yarnBetaFast: Double?
    @Option(help: "YaRN: beta_slow (default \(YaRNMethod.defaultBetaSlow)).") var yarnBetaSlow: Double?
    @Option(help: "Llama 3: low_freq_factor (default \(Llama3Method.defaultLowFrequencyFactor)).") var lowFreqFactor: Double?
    @Option(help: "Llama 3: high_freq_factor (default \(Llama3Method.defaultHighFrequencyFactor)).") var highFreqFactor: Double?

    @Option(name: [.customLong("group-size"), .customLong("grp-attn-n")],
            help: "SelfExtend: group size G (positions farther than the window are divided by G). Default: for generate, logits and info --tokens the smallest that fits the sequence with the window; \(SelfExtendMethod.defaultGroupSize) for the other tools.")
    var groupSize: Int?

    @Option(name: [.customLong("window"), .customLong("grp-attn-w")],
            help: "SelfExtend: neighbour window W, a multiple of G (default: a quarter of the trained context, rounded to G).")
    var window: Int?

    @Option(help: "DCA: chunk size S, the largest query position used (default: 3/4 of the trained context).")
    var chunkSize: Int?

    @Option(help: "DCA: local window w, chunks are S - w tokens (default: 1/8 of the trained context). GALI: tokens kept at exact positions (default \(GALIMethod.defaultLocalWindow)).")
    var localWindow: Int?

    @Option(help: ArgumentHelp("GALI: prompt chunk after the first T tokens; an integer is a size, a fraction (0.5) a ratio of the tokens so far (default \(GALIMethod.defaultChunk)).", valueName: "C"))
    var galiChunk: String?

    @Option(help: "GALI: interpolated (the paper's intent; default) or reference-bf16 (what the released bf16 code computes: no interpolation, no noise).")
    var galiMode: String?

    @Option(help: "GALI: logit noise on interpolated keys: gaussian (default) or none.")
    var noise: String?

    @Option(help: "Random seed: sampling (generate) and GALI's noise.")
    var seed: UInt64 = 0

    @Flag(help: "LogN scaling: multiply the query at position i by max(1, ln(i+1)/ln(L)); combines with any method.")
    var logn = false

    @Flag(help: "Run even if the sequence is longer than the method allows (results are expected to degrade).")
    var noWindowCheck = false

    func validate() throws {
        guard ContextMethod.type(named: method) != nil else {
            throw ValidationError("--method must be one of \(ContextMethod.names.joined(separator: ", ")) (got '\(method)')")
        }
    }

    /// What the user typed for the method's parameters, keyed by flag name.
    var given: MethodArguments {
        var values: [String: String] = [:]
        func put(_ name: String, _ value: CustomStringConvertible?) { if let value { values[name] = value.description } }
        put("factor", factor)
        put("original-context", originalContext)
        put("yarn-beta-fast", yarnBetaFast)
        put("yarn-beta-slow", yarnBetaSlow)
        put("low-freq-factor", lowFreqFactor)
        put("high-freq-factor", highFreqFactor)
        put("group-size", groupSize)
        put("window", window)
        put("chunk-size", chunkSize)
        put("local-window", localWindow)
        put("gali-chunk", galiChunk)
        put("gali-mode", galiMode)
        put("noise", noise)
        // The seed also drives sampling, so it is a method parameter only for the methods that read it.
        if ContextMethod.type(named: method)?.parameterNames.contains("seed") == true { values["seed"] = String(seed) }
        return MethodArguments(values)
    }

    /// The method for a model with this configuration; throws the method's error naming the flag.
    func method(for config: ModelConfig) throws -> ContextMethod {
        try ContextMethod(name: method, given: given, logN: logn, config: config)
    }

    /// The method for a sequence of `tokens`, with the parameters the user left out that the length decides
    /// chosen (SelfExtend's group size, a RoPE-scaling factor), and what was chosen.
    func method(for config: ModelConfig, tokens: Int) throws -> (ContextMethod, chosen: [String: String]) {
        try ContextMethod.fitted(name: method, given: given, logN: logn, config: config, tokens: tokens)
    }
}

extension ContextOptions {
    /// The method, validated against the model, and the length check for a sequence of `tokens` (skipped
    /// with --no-window-check, with a warning). Errors exit with one line.
    func resolved(for config: ModelConfig, tokens: Int) -> ContextMethod {
        reportingErrors {
            let (m, chosen) = try method(for: config, tokens: tokens)
            if !chosen.isEmpty {
                let flags = chosen.keys.sorted().map { "--\($0) \(chosen[$0]!)" }.joined(separator: " ")
                log("\(method): chose \(flags) for \(tokens) tokens (the smallest that fits): \(m)")
            }
            do { try m.checkLength(tokens, config: config) } catch {
                guard noWindowCheck else { throw error }
                log("warning: \(error) (continuing: --no-window-check)")
            }
            return m
        }
    }
}
