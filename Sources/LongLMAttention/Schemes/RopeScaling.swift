import Foundation

/// A RoPE-scaling parameter outside its allowed range; says which, the value, and what is allowed.
public enum RopeScalingError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(scaling: String, parameter: String, value: String, allowed: String)

    public var description: String {
        switch self {
        case let .invalidParameter(scaling, parameter, value, allowed):
            return "rope scaling '\(scaling)': \(parameter) = \(value) is not allowed; \(allowed)"
        }
    }
}

/// The RoPE-scaling family, docs/methods.md §C, with transformers `modeling_rope_utils` semantics (5.x). The
/// static methods change only the frequencies theta_m (YaRN also scales the logits), so rel = i - j as in plain
/// RoPE; the two dynamic NTK variants pick the base from a sequence length (DynamicNTK.swift,
/// ConsistentNTK.swift). `originalContext` is L0: transformers reads `original_max_position_embeddings`
/// for yarn and llama3 but `max_position_embeddings` for dynamic.
public enum RopeScaling: Sendable, Equatable, Codable {
    case linear(factor: Double)
    /// Static NTK-aware, docs/methods.md §C.2 (not in transformers 5.x).
    case ntk(factor: Double)
    /// transformers `rope_type: dynamic`, docs/methods.md §C.3, including its post-RoPE key cache.
    case dynamicNTK(factor: Double, originalContext: Int)
    /// NormXU/Consistent-DynamicNTKRoPE, docs/methods.md §C.4: one base for every key and the query per step.
    case consistentNTK(factor: Double, originalContext: Int)
    /// `rope_type: yarn` with truncate = true, docs/methods.md §C.6; `attentionFactor` nil means 0.1 ln(s) + 1.
    case yarn(factor: Double, originalContext: Int, betaFast: Double, betaSlow: Double, attentionFactor: Double?)
    /// `rope_type: llama3`, docs/methods.md §C.7.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)

    public var name: String {
        switch self {
        case let .linear(s): return "linear(s=\(s))"
        case let .ntk(a): return "ntk(alpha=\(a))"
        case let .dynamicNTK(f, L0): return "dynamic-ntk(f=\(f), L0=\(L0))"
        case let .consistentNTK(f, L0): return "consistent-ntk(f=\(f), L0=\(L0))"
        case let .yarn(s, L0, fast, slow, af):
            return "yarn(s=\(s), L0=\(L0), beta=\(fast)/\(slow)" + (af.map { ", af=\($0))" } ?? ")")
        case let .llama3(s, low, high, L0): return "llama3(s=\(s), low=\(low), high=\(high), L0=\(L0))"
        }
    }

    /// Throws `RopeScalingError.invalidParameter` for the first parameter out of range.
    public func validate() throws {
        func require(_ ok: Bool, _ parameter: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw RopeScalingError.invalidParameter(scaling: name, parameter: parameter, value: "\(value)", allowed: allowed) }
        }
        func factor(_ s: Double) throws { try require(s.isFinite && s > 0, "factor", s, "use a finite number > 0 (usually >= 1)") }
        func context(_ L0: Int) throws {
            try require(L0 > 0, "originalContext", L0, "use the trained context length (original_max_position_embeddings), > 0")
        }
        switch self {
        case let .linear(s), let .ntk(s): try factor(s)
        case let .dynamicNTK(f, L0), let .consistentNTK(f, L0): try factor(f); try context(L0)
        case let .yarn(s, L0, fast, slow, af):
            try factor(s); try context(L0)
            try require(slow.isFinite && slow > 0, "betaSlow", slow, "use a finite number > 0 (default 1)")
            try require(fast.isFinite && fast > slow, "betaFast", fast, "use a finite number > betaSlow = \(slow) (default 32)")
            if let af { try require(af.isFinite && af > 0, "attentionFactor", af, "use a finite number > 0, or leave it out for 0.1 ln(s) + 1") }
        case let .llama3(s, low, high, L0):
            try factor(s); try context(L0)
            try require(low.isFinite && low > 0, "lowFrequencyFactor", low, "use a finite number > 0 (Llama 3.1: 1)")
            try require(high.isFinite && high > low, "highFrequencyFactor", high, "use a finite number > lowFrequencyFactor = \(low) (Llama 3.1: 4)")
        }
    }

    /// The scheme for one sequence over `dimensions` rotary dims. `promptLength` is the length of the prompt
    /// processed before decoding starts; only the dynamic NTK variants use it (the prompt is one forward call).
    /// `frequencyFactors`, the model file's own per-pair divisors (RopeFrequencyFactors), divide every table the
    /// method computes.
    public func scheme(base: Double, dimensions: Int, pairing: RotaryPairing, promptLength: Int,
                       frequencyFactors: [Double]? = nil) -> any PositionScheme {
        precondition(dimensions >= 4 && dimensions % 2 == 0, "rotary dimensions must be even and >= 4")
        func rotary(_ frequencies: [Double], logitMultiplier: Float = 1) -> RotaryScheme {
            let divided = RopeFrequencyFactors.divide(frequencies, by: frequencyFactors)
            return RotaryScheme(name: name, table: RotaryTable(dimensions: dimensions, pairing: pairing, inverseFrequencies: divided),
                                logitMultiplier: logitMultiplier)
        }
        switch self {
        case let .dynamicNTK(f, L0):
            return DynamicNTK(base: base, dimensions: dimensions, pairing: pairing, factor: f, originalContext: L0,
                              promptLength: promptLength, frequencyFactors: frequencyFactors)
        case let .consistentNTK(f, L0):
            return ConsistentNTK(base: base, dimensions: dimensions, pairing: pairing, factor: f, originalContext: L0,
                                 promptLength: promptLength, frequencyFactors: frequencyFactors)
        case .yarn:
            let (frequencies, attentionFactor) = self.frequencies(base: base, dimensions: dimensions)
            // transformers multiplies cos and sin by the attention factor, so q and k both carry it.
            return rotary(frequencies, logitMultiplier: Float(attentionFactor * attentionFactor))
        case .linear, .ntk, .llama3:
            return rotary(frequencies(base: base, dimensions: dimensions).frequencies)
        }
    }

    /// What transformers' `ROPE_INIT_FUNCTIONS[rope_type](config, seq_len=sequenceLength)` returns:
    /// (inv_freq, attention_scaling). `sequenceLength` matters only for the dynamic variants (nil: L0).
    public func frequencies(base: Double, dimensions d: Int, sequenceLength: Int? = nil) -> (frequencies: [Double], attentionFactor: Double) {
        switch self {
        case let .linear(s): return (Self.linearFrequencies(base: base, dimensions: d, factor: s), 1)
        case let .ntk(a): return (RotaryTable.standardFrequencies(base: Self.ntkBase(base: base, dimensions: d, factor: a), dimensions: d), 1)
        case let .dynamicNTK(f, L0), let .consistentNTK(f, L0):
            let scaled = Self.dynamicNTKBase(base: base, dimensions: d, factor: f, originalContext: L0, sequenceLength: sequenceLength ?? L0)
            return (RotaryTable.standardFrequencies(base: scaled, dimensions: d), 1)
        case let .yarn(s, L0, fast, slow, af):
            return Self.yarnFrequencies(base: base, dimensions: d, factor: s, originalContext: L0, betaFast: fast, betaSlow: slow,
                                        attentionFactor: af)
        case let .llama3(s, low, high, L0):
            return (Self.llama3Frequencies(base: base, dimensions: d, factor: s, lowFrequencyFactor: low,
                                           highFrequencyFactor: high, originalContext: L0), 1)
        }
    }

    // MARK: Frequency tables (pure)

    /// PI, docs/methods.md §C.1: theta'_m = theta_m / s, the same as positions p / s.
    /// transformers `_compute_linear_scaling_rope_parameters`: `inv_freq /= factor`.
    public static func linearFrequencies(base: Double, dimensions d: Int, factor s: Double) -> [Double] {
        RotaryTable.standardFrequencies(base: base, dimensions: d).map { $0 / s }
    }

    /// Static NTK-aware, docs/methods.md §C.2: base' = base * alpha^(d / (d - 2)).
    public static func ntkBase(base: Double, dimensions d: Int, factor alpha: Double) -> Double {
        base * pow(alpha, Double(d) / Double(d - 2))
    }

    /// Dynamic NTK, docs/methods.md §C.3: n = max(sequenceLength, L0), alpha = f n / L0 - (f - 1),
    /// base' = base * alpha^(d / (d - 2)).
    /// transformers `_compute_dynamic_ntk_parameters` with L0 = `max_position_embeddings`. For n <= L0 this is
    /// base itself (alpha = 1), returned exactly.
    public static func dynamicNTKBase(base: Double, dimensions d: Int, factor f: Double, originalContext L0: Int,
                                      sequenceLength: Int) -> Double {
        let n = max(sequenceLength, L0)
        if n == L0 { return base }
        let alpha = f * Double(n) / Double(L0) - (f - 1)
        return base * pow(alpha, Double(d) / Double(d - 2))
    }

    /// YaRN's correction range, docs/methods.md §C.6: corr_dim(r) = d ln(L0 / (2 pi r)) / (2 ln base) is the pair
    /// index whose wavelength fits r times into L0; low = max(0, floor(corr_dim(beta_fast))),
    /// high = min(d - 1, ceil(corr_dim(beta_slow))).
    /// transformers `find_correction_range` with truncate = true.
    public static func yarnCorrectionRange(base: Double, dimensions d: Int, originalContext L0: Int,
                                           betaFast: Double, betaSlow: Double) -> (low: Double, high: Double) {
        func correctionDimension(_ rotations: Double) -> Double {
            Double(d) * log(Double(L0) / (rotations * 2 * Double.pi)) / (2 * log(base))
        }
        return (max(floor(correctionDimension(betaFast)), 0), min(ceil(correctionDimension(betaSlow)), Double(d - 1)))
    }

    /// YaRN, docs/methods.md §C.6: ramp(m) = clamp((m - low) / (high - low), 0, 1) (high += 0.001 if equal);
    /// theta'_m = theta_m (1 - ramp) + (theta_m / s) ramp; attention factor 0.1 ln(s) + 1 for s > 1 (else 1) unless given.
    /// transformers `_compute_yarn_parameters`: `inv_freq_extrapolation_factor = 1 - linear_ramp_factor(low, high, d/2)`.
    public static func yarnFrequencies(base: Double, dimensions d: Int, factor s: Double, originalContext L0: Int,
                                       betaFast: Double, betaSlow: Double, attentionFactor: Double?)
        -> (frequencies: [Double], attentionFactor: Double) {
        var (low, high) = yarnCorrectionRange(base: base, dimensions: d, originalContext: L0, betaFast: betaFast, betaSlow: betaSlow)
        if low == high { high += 0.001 }
        let frequencies = RotaryTable.standardFrequencies(base: base, dimensions: d).enumerated().map { m, theta in
            let ramp = min(max((Double(m) - low) / (high - low), 0), 1)
            return theta * (1 - ramp) + theta / s * ramp
        }
        return (frequencies, attentionFactor ?? (s > 1 ? 0.1 * log(s) + 1 : 1))
    }

    /// Llama 3.1, docs/methods.md §C.7, with wavelength lambda = 2 pi / theta: lambda < L0 / high keeps theta;
    /// lambda > L0 / low gives theta / s; otherwise smooth = (L0 / lambda - low) / (high - low) and
    /// theta' = (1 - smooth) theta / s + smooth theta.
    /// transformers `_compute_llama3_parameters`.
    public static func llama3Frequencies(base: Double, dimensions d: Int, factor s: Double, lowFrequencyFactor low: Double,
                                         highFrequencyFactor high: Double, originalContext L0: Int) -> [Double] {
        let L = Double(L0)
        return RotaryTable.standardFrequencies(base: base, dimensions: d).map { theta in
            let wavelength = 2 * Double.pi / theta
            if wavelength < L / high { return theta }
            if wavelength > L / low { return theta / s }
            let smooth = (L / wavelength - low) / (high - low)
            return (1 - smooth) * theta / s + smooth * theta
        }
    }
}
