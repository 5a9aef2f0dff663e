import Foundation

/// Llama 4's attention temperature, used by Ministral 3 (GGUF `{arch}.attention.temperature_scale` = beta, with
/// the floor scale `rope.scaling.original_context_length`): the query at absolute position p is multiplied by
///
///     1 + beta * ln(1 + floor(p / floorScale))
///
/// (the Llama 4 rule as transformers and llama.cpp compute it, llama.cpp with its offset 0). It is a
/// property of the model, applied before any context-extension method sees the query, so it composes with all
/// of them; it depends on the absolute position only, like llama.cpp's.
public struct AttentionTemperature: Sendable, Equatable {
    public let beta: Double
    public let floorScale: Int

    public init(beta: Double, floorScale: Int) {
        self.beta = beta
        self.floorScale = floorScale
    }

    public func factor(position p: Int) -> Float {
        Float(1 + beta * log(1 + floor(Double(p) / Double(floorScale))))
    }
}
