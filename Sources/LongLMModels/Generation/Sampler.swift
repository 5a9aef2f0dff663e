import Foundation
import LongLMCore

/// Picks the next token from a row of logits. Temperature 0 (or `greedy`) is argmax; otherwise
/// top-k, then top-p (nucleus) over the softmax at the given temperature, with a seeded generator.
public struct Sampler {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    private var random: SplitMix64

    public static var greedy: Sampler { Sampler(temperature: 0, topK: 0, topP: 1, seed: 0) }

    public init(temperature: Float, topK: Int, topP: Float, seed: UInt64) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        random = SplitMix64(seed: seed)
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if temperature <= 0 { return Sampler.argmax(logits) }
        let candidates = topK > 0 ? min(topK, logits.count) : logits.count
        var order = TopK.indices(logits, count: candidates).map(Int.init)
        let maxLogit = logits[order[0]]
        var probabilities = order.map { expf((logits[$0] - maxLogit) / temperature) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        if topP < 1 {
            var cumulative: Float = 0, keep = 0
            for p in probabilities { cumulative += p; keep += 1; if cumulative >= topP { break } }
            order = Array(order.prefix(keep)); probabilities = Array(probabilities.prefix(keep))
            let kept = probabilities.reduce(0, +)
            probabilities = probabilities.map { $0 / kept }
        }
        var u = Float(random.next() >> 40) / Float(1 << 24)
        for (i, p) in probabilities.enumerated() {
            if u < p { return Int32(order[i]) }
            u -= p
        }
        return Int32(order[order.count - 1])
    }

    /// First index of the largest value (ties go to the lowest id, as llama.cpp and torch.argmax do).
    public static func argmax(_ values: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<values.count where values[i] > values[best] { best = i }
        return Int32(best)
    }
}
