import LongLMAttention

/// Dual Chunk Attention (ChunkLlama): intra-chunk, successive-chunk and inter-chunk position rules, so no
/// query position exceeds the chunk size; no length limit.
public struct DualChunkMethod: ContextExtension {
    public static let name = "dca"
    public static let parameterNames = ["chunk-size", "local-window"]
    public var chunkSize: Int
    public var localWindow: Int

    public init(chunkSize: Int, localWindow: Int) {
        self.chunkSize = chunkSize
        self.localWindow = localWindow
    }

    /// Defaults: chunk size 3/4 of the trained context, local window 1/8 of it.
    public init(_ given: MethodArguments, config: ModelConfig) throws {
        let L = config.trainedContext
        chunkSize = try given.int("chunk-size", default: Self.defaultChunkSize(trainedContext: L), in: 1...max(1, L - 1))
        localWindow = try given.int("local-window", default: Self.defaultLocalWindow(trainedContext: L), in: 0...max(0, L - 2))
    }

    public static func defaultChunkSize(trainedContext L: Int) -> Int { 3 * L / 4 }
    public static func defaultLocalWindow(trainedContext L: Int) -> Int { L / 8 }

    public var description: String { "dca (chunk size \(chunkSize), local window \(localWindow))" }

    public func validate(config: ModelConfig) throws {
        let L = config.trainedContext
        guard localWindow >= 0 && chunkSize > localWindow else {
            throw ContextMethod.Failure.invalid("--chunk-size (\(chunkSize)) must be larger than --local-window (\(localWindow)) and the window must be >= 0")
        }
        guard chunkSize < L else {
            throw ContextMethod.Failure.invalid("--chunk-size \(chunkSize) must be below the trained context \(L): it is the largest query position DCA uses")
        }
    }

    public func maximumLength(config: ModelConfig) -> Int? { nil }
    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String { "" }

    public func positionsDependOnPromptLength(config: ModelConfig) -> Bool { false }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        DualChunk(chunkSize: chunkSize, localWindow: localWindow, table: model.rotary(sequenceLength: promptLength))
    }
}
