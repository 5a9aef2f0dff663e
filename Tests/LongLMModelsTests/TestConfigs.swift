@testable import LongLMModels

/// Model configurations with real models' shapes, for tests of arithmetic that needs no weights.
enum TestConfigs {
    /// Gemma 3 270M: 18 layers, every sixth global, the others with a 512-token window.
    static func gemma3_270m() -> ModelConfig {
        let sliding = (0..<18).map { ($0 + 1) % 6 != 0 }
        return ModelConfig(
            architecture: "gemma3", vocabularySize: 262_144, hiddenSize: 640, layerCount: 18, heads: 4, kvHeads: 1, headDim: 256,
            ffnSize: 2048, trainedContext: 32768, rmsEpsilon: 1e-6, ropeBase: 1_000_000, rotaryPairing: .halves,
            slidingWindow: 512, slidingLayers: sliding, slidingRopeBase: 10000, embeddingScale: nil, attentionScale: 1,
            activation: .geluTanh, hasQKNorm: true, hasPostNorms: true, hasQKVBias: false, tiedEmbeddings: true)
    }
}
