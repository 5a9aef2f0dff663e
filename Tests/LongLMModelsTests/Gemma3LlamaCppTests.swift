import XCTest
@testable import LongLMModels
import LongLMCore

/// Gemma 3 270M (the default model) against llama.cpp's logits on the same GGUF file
/// (fixtures by scripts/make_gemma3_llamacpp_fixtures.py). llama.cpp quantizes activations to 8 bits
/// inside its matrix products, so exact equality is not expected; agreement within that noise is.
final class Gemma3LlamaCppTests: XCTestCase {
    nonisolated(unsafe) static var loaded: LoadedModel?

    func model() throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: Fixtures.gemmaModel) else {
            throw XCTSkip("default model missing: run scripts/setup.sh")
        }
        if let m = Self.loaded { return m }
        let m = try ModelLoader.load(path: Fixtures.gemmaModel)
        Self.loaded = m
        return m
    }

    func testGemma3LogitsAgreeWithLlamaCppAtEveryPosition() throws {
        let loaded = try model()
        let vocab = loaded.model.config.vocabularySize
        var report: [String] = []
        for n in [10, 300, 1500, 3000] {
            let prompt = try Fixtures.ints("gemma3-llamacpp/prompt-\(n).npy")
            let top = try Fixtures.ints("gemma3-llamacpp/top-\(n).npy")
            let (shape, topLogits) = try Fixtures.floats("gemma3-llamacpp/toplogits-\(n).npy")
            let k = shape[1]
            var top1Agree = 0, overlapAtLeast17 = 0, minOverlap = 20, largestDifference: Float = 0
            var disagreements: [String] = []
            let generator = Generator(model: loaded.model, prefillChunk: 256)
            let cache = KVCache(config: loaded.model.config)
            try generator.prefill(prompt, cache: cache) { hidden, first in
                let logits = loaded.model.logits(hidden: hidden, rows: 0..<hidden.rows)
                for r in 0..<hidden.rows {
                    let position = first + r
                    let row = UnsafeBufferPointer(start: logits.row(r), count: vocab)
                    let theirs = Array(top[(position * k)..<(position * k + 20)])
                    let ours = Self.topIndices(row, count: 20)
                    if ours[0] == theirs[0] { top1Agree += 1 } else {
                        let gapTheirs = topLogits[position * k] - topLogits[position * k + 1]
                        disagreements.append("pos \(position): ours \(ours[0]) vs \(theirs[0]) (llama.cpp's top-2 gap \(gapTheirs))")
                    }
                    let overlap = Set(ours).intersection(theirs).count
                    minOverlap = min(minOverlap, overlap)
                    if overlap >= 17 { overlapAtLeast17 += 1 }
                    for c in 0..<k {
                        largestDifference = max(largestDifference, abs(row[Int(top[position * k + c])] - topLogits[position * k + c]))
                    }
                }
            }
            let agreement = Double(top1Agree) / Double(n)
            report.append("n=\(n): top-1 \(top1Agree)/\(n), top-20 overlap >= 17 at \(overlapAtLeast17)/\(n) (min \(minOverlap)), largest |diff| on llama.cpp's top-\(k) \(largestDifference)")
            report.append(contentsOf: disagreements.map { "  " + $0 })
            XCTAssertGreaterThanOrEqual(agreement, 0.99, "n=\(n)")
            XCTAssertGreaterThanOrEqual(Double(overlapAtLeast17) / Double(n), 0.99, "n=\(n)")
        }
        print(report.joined(separator: "\n"))
    }

    static func topIndices(_ row: UnsafeBufferPointer<Float>, count: Int) -> [Int32] {
        var best: [(Float, Int32)] = []
        for (i, v) in row.enumerated() where best.count < count || v > best[best.count - 1].0 {
            let at = best.firstIndex { v > $0.0 } ?? best.count
            best.insert((v, Int32(i)), at: at)
            if best.count > count { best.removeLast() }
        }
        return best.map(\.1)
    }
}
