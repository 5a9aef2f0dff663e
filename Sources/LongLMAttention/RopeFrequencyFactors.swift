import Foundation

/// Per-frequency divisors of the RoPE frequencies, stored in a model file: pair m rotates with theta_m / f_m.
///  - Llama 3.1 and later GGUFs: one set, the `rope_freqs` tensor (the converter's form of `rope_type: llama3`).
///  - Phi-3 LongRoPE GGUFs: `rope_factors_short` for sequences up to the original context and
///    `rope_factors_long` beyond it.
///
/// Composition rule (docs/architectures.md, "RoPE frequency factors"): the factors belong to the model's own
/// frequencies, so every method sees them. A method that rotates with the model's table (none, SelfExtend, DCA,
/// GALI) uses theta_m / f_m directly; a RoPE-scaling method (linear, NTK, dynamic NTK, YaRN) computes its table
/// from the plain theta_m and the factors divide its result, which is llama.cpp's order (its rope kernel divides
/// theta_m by f_m first and applies the frequency scale and the YaRN ramp, which are linear in theta and
/// depend on the pair index only, afterwards).
public struct RopeFrequencyFactors: Sendable, Equatable {
    /// Used for every sequence when `long` is nil, else for sequences of at most `originalContext` tokens.
    public let short: [Double]
    public let long: [Double]?
    /// The length above which `long` applies (GGUF `rope.scaling.original_context_length`).
    public let originalContext: Int

    public init(short: [Double], long: [Double]? = nil, originalContext: Int) {
        self.short = short
        self.long = long
        self.originalContext = originalContext
    }

    /// The factors a sequence of `n` tokens rotates with. llama.cpp picks Phi-3's long factors when its context
    /// size exceeds the original context; here the sequence length known when its positions are fixed (the
    /// prompt) plays that part, so a prompt that fits the original context keeps the short factors.
    public func factors(sequenceLength n: Int) -> [Double] {
        if let long, n > originalContext { return long }
        return short
    }

    /// theta_m / f_m for every pair; `frequencies` unchanged when `factors` is nil.
    public static func divide(_ frequencies: [Double], by factors: [Double]?) -> [Double] {
        guard let factors else { return frequencies }
        precondition(factors.count == frequencies.count, "one factor per rotary pair")
        return zip(frequencies, factors).map { $0 / $1 }
    }

    /// Each set has one finite factor > 0 per rotary pair.
    public func validate(pairs: Int) -> String? {
        for (name, set) in [("short", short), ("long", long ?? [])] where !set.isEmpty || name == "short" {
            if set.count != pairs { return "\(name) factors: \(set.count) values for \(pairs) rotary pairs" }
            if let bad = set.first(where: { !($0.isFinite && $0 > 0) }) { return "\(name) factors: \(bad) is not a finite number > 0" }
        }
        return nil
    }
}
