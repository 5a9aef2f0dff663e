import LongLMAttention

/// GALI: greedy attention-logit interpolation. Positions past the trained context are mapped into it
/// chunk by chunk, keys at fractional positions get logits interpolated between two integer rotations.
public struct GALIMethod: ContextExtension {
    public static let name = "gali"
    public static let parameterNames = ["local-window", "gali-chunk", "gali-mode", "noise", "seed"]
    public static let defaultLocalWindow = 128
    public static let defaultChunk = "3000"
    public static let modeNames: [String: GALIMode] = ["interpolated": .interpolated, "reference-bf16": .referenceBF16]
    public static let noiseNames: [String: GALINoise] = ["gaussian": .gaussian, "none": .none]
    public var localWindow: Int
    public var chunk: GALIChunk
    public var mode: GALIMode
    public var noise: GALINoise
    public var seed: UInt64

    public init(localWindow: Int, chunk: GALIChunk, mode: GALIMode = .interpolated, noise: GALINoise = .gaussian, seed: UInt64 = 0) {
        self.localWindow = localWindow
        self.chunk = chunk
        self.mode = mode
        self.noise = noise
        self.seed = seed
    }

    public init(_ given: MethodArguments, config: ModelConfig) throws {
        let L = config.trainedContext
        localWindow = try given.int("local-window", default: min(Self.defaultLocalWindow, max(1, L - 1)), in: 1...max(1, L - 1))
        let chunkText = given.text("gali-chunk") ?? Self.defaultChunk
        // A size of at most 16M tokens, or a ratio in (0, 1] of the tokens so far.
        switch GALIChunk(chunkText) {
        case .size(let n)? where n >= 1 && n <= 1 << 24: chunk = .size(n)
        case .ratio(let r)? where r.isFinite && r > 0 && r <= 1: chunk = .ratio(r)
        default:
            throw ContextMethod.Failure.invalidParameter(name: "gali-chunk", value: chunkText,
                                                         allowed: "a chunk size from 1 to \(1 << 24) tokens, or a ratio in (0, 1] of the tokens so far")
        }
        mode = Self.modeNames[try given.choice("gali-mode", default: "interpolated", among: Self.modeNames.keys.sorted())]!
        noise = Self.noiseNames[try given.choice("noise", default: "gaussian", among: Self.noiseNames.keys.sorted())]!
        guard let seedText = given.text("seed") else { seed = 0; return }
        guard let value = UInt64(seedText) else {
            throw ContextMethod.Failure.invalidParameter(name: "seed", value: seedText, allowed: "a whole number from 0 to \(UInt64.max)")
        }
        seed = value
    }

    public var description: String {
        "gali (local window \(localWindow), chunk \(chunk), \(mode.rawValue), noise \(noise.rawValue), seed \(seed))"
    }

    public func validate(config: ModelConfig) throws {
        let L = config.trainedContext
        guard localWindow >= 1 && localWindow < L else {
            throw ContextMethod.Failure.invalidParameter(name: "local-window", value: "\(localWindow)", allowed: "a whole number from 1 to \(L - 1), below the trained context")
        }
        if case .ratio(let r) = chunk, !(r.isFinite && r > 0 && Double(L) * r >= 1) {
            throw ContextMethod.Failure.invalid("--gali-chunk \(r) is a ratio that gives empty chunks")
        }
        if case .size(let n) = chunk, n < 1 { throw ContextMethod.Failure.invalid("--gali-chunk must be at least 1 token") }
    }

    public func maximumLength(config: ModelConfig) -> Int? { nil }
    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String { "" }

    /// Its chunks are cut from the prompt length.
    public func positionsDependOnPromptLength(config: ModelConfig) -> Bool { true }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        try GALI(trainedContext: model.config.trainedContext, localWindow: localWindow, chunk: chunk, promptLength: promptLength,
                 mode: mode, noise: noise, seed: seed, table: model.rotary(sequenceLength: promptLength))
    }
}
