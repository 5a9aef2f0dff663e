import ArgumentParser
import LongLMModels

/// Context-extension methods, shared by every command that runs a model.
struct ContextOptions: ParsableArguments {
    enum Method: String, ExpressibleByArgument, CaseIterable {
        case none, selfextend, dca
    }

    @Option(help: "Context-extension method for the global attention layers.")
    var method: Method = .none

    @Option(name: [.customLong("group-size"), .customLong("grp-attn-n")],
            help: "SelfExtend: group size G (positions farther than the window are divided by G).")
    var groupSize: Int = 4

    @Option(name: [.customLong("window"), .customLong("grp-attn-w")],
            help: "SelfExtend: neighbour window W, a multiple of G (default: a quarter of the trained context, rounded to G).")
    var window: Int?

    @Option(help: "DCA: chunk size S, the largest query position used (default: 3/4 of the trained context).")
    var chunkSize: Int?

    @Option(help: "DCA: local window w; chunks are S - w tokens (default: 1/8 of the trained context).")
    var localWindow: Int?

    @Flag(help: "LogN scaling: multiply the query at position i by max(1, ln(i+1)/ln(L)); combines with any method.")
    var logn = false

    @Flag(help: "Run even if the sequence is longer than the method allows (results are expected to degrade).")
    var noWindowCheck = false

    /// The method for a model with this configuration.
    func method(for config: ModelConfig) -> ContextMethod {
        let L = config.trainedContext
        switch method {
        case .none:
            return ContextMethod(.none, logN: logn)
        case .selfextend:
            let w = window ?? max(groupSize, L / 4 / groupSize * groupSize)
            return ContextMethod(.selfExtend(groupSize: groupSize, window: w), logN: logn)
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
