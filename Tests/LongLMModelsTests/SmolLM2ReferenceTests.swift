import XCTest
@testable import LongLMModels
import LongLMCore

/// SmolLM2-135M-Instruct Q4_1 (models/, from scripts/setup.sh; GGUF `llama`, 30 layers, GQA 9/3, tied embeddings)
/// against llama.cpp on the same file (scripts/make_smollm2_llamacpp_fixtures.py,
/// Tests/Fixtures/smollm2-llamacpp/SOURCE.json). Prompts are llama.cpp's own token ids.
///
/// The bound, per prompt, is llama.cpp's own run-to-run noise on the stored entries, measured by the script: the
/// largest |logit difference| between its default run and the same run with flash attention on, another batch
/// size (1 for the greedy sequence: token-by-token decode), an f32 KV cache, or the same weights dequantized into
/// an F32 GGUF (llama.cpp rounds activations to 8 bits in its Q4_1 products; we do not). Our logits must be within
/// it at every stored entry: every vocabulary entry of every position of the short prompts, llama.cpp's top-20 at
/// every position of the 3,000-token prompt and of the greedy sequence plus full rows at a few positions; and our
/// top-1 must be llama.cpp's wherever llama.cpp's top-2 margin exceeds the noise.
final class SmolLM2ReferenceTests: XCTestCase {
    static let modelPath = Fixtures.repository + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    nonisolated(unsafe) static var loaded: TransformerModel?

    static func model() throws -> TransformerModel {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw XCTSkip("SmolLM2 model missing: run scripts/setup.sh")
        }
        if let m = loaded { return m }
        // Weights only: the prompts are token ids.
        let m = try ModelLoader.ggufModel(path: modelPath)
        loaded = m
        return m
    }

    struct Reference {
        let tokens: [Int32]
        let top: [Int32], topLogits: [Float], k: Int
        /// Full rows: position -> logits.
        let full: [Int: ArraySlice<Float>]
        let noise: Float

        init(_ name: String) throws {
            let directory = "smollm2-llamacpp"
            tokens = try Fixtures.ints("\(directory)/prompt-\(name).npy")
            top = try Fixtures.ints("\(directory)/top-\(name).npy")
            let (shape, values) = try Fixtures.floats("\(directory)/toplogits-\(name).npy")
            topLogits = values
            k = shape[1]
            let source = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("\(directory)/SOURCE.json")))) as! [String: Any]
            noise = Float(((source["noise"] as! [String: Any])[name] as! [String: Any])["max_abs"] as! Double)
            let positions = ((source["full_positions"] as! [String: Any])[name] as? [Int]) ?? Array(0..<tokens.count)
            let (fullShape, rows) = try Fixtures.floats("\(directory)/logits-\(name).npy")
            let V = fullShape[1]
            var full: [Int: ArraySlice<Float>] = [:]
            for (r, p) in positions.enumerated() { full[p] = rows[(r * V)..<((r + 1) * V)] }
            self.full = full
        }
    }

    struct Agreement {
        var largest: Float = 0, checked = 0, differs: [Int] = []
        /// Compares our row at `position` with every stored entry of it.
        mutating func add(_ row: UnsafeBufferPointer<Float>, position p: Int, _ r: Reference) {
            for c in 0..<r.k { largest = max(largest, abs(row[Int(r.top[p * r.k + c])] - r.topLogits[p * r.k + c])) }
            if let full = r.full[p] { for (a, b) in zip(row, full) { largest = max(largest, abs(a - b)) } }
            if r.topLogits[p * r.k] - r.topLogits[p * r.k + 1] > r.noise {
                checked += 1
                if TopK.indices(row, count: 1)[0] != r.top[p * r.k] { differs.append(p) }
            }
        }
        func check(_ name: String, noise: Float) {
            print("SmolLM2 vs llama.cpp, \(name): max |ours - llama.cpp| \(largest), llama.cpp noise \(noise), top-1 equal at \(checked - differs.count)/\(checked) clear positions")
            XCTAssertLessThanOrEqual(largest, noise, name)
            XCTAssertEqual(differs, [], "\(name): top-1 differs where llama.cpp's margin exceeds its noise")
        }
    }

    /// Prefills `r.tokens` in chunks of 512 (as generate does) and compares every position.
    func comparePrefill(_ name: String, label: String = "", budget: Float? = nil) throws {
        let model = try Self.model()
        let r = try Reference(name)
        var agreement = Agreement()
        let generator = Generator(model: model, prefillChunk: 512)
        try generator.prefill(r.tokens, cache: KVCache(config: model.config)) { hidden, first in
            let logits = model.logits(hidden: hidden, rows: 0..<hidden.rows)
            for row in 0..<hidden.rows {
                agreement.add(UnsafeBufferPointer(start: logits.row(row), count: logits.cols), position: first + row, r)
            }
        }
        agreement.check("prompt \(name)\(label)", noise: budget ?? r.noise)
    }

    func testShortPromptsMatchLlamaCppAtEveryPositionAndVocabularyEntry() throws {
        try comparePrefill("4")
        try comparePrefill("8")
    }

    func testThreeThousandTokenPromptMatchesLlamaCppAtEveryPosition() throws {
        try comparePrefill("3000")
    }

    /// llama.cpp's greedy continuation, replayed through our KV cache one decode step per token: at every step our
    /// logits stay within the noise and our argmax is llama.cpp's next token wherever its margin is clear.
    func testGreedyContinuationDecodesLlamaCppsTokens() throws {
        try replayGreedyContinuation()
    }

    /// The same in the fast precision (int8 activations in every decode step; the prompt's attention in BF16 tiles
    /// where the CPU has them, as the CLI runs it) on every kernel variant here.
    func testGreedyContinuationInFastPrecisionDecodesLlamaCppsTokens() throws {
        let saved = (Compute.precision, Compute.kernels, Compute.attentionTiles)
        defer { (Compute.precision, Compute.kernels, Compute.attentionTiles) = saved }
        Compute.precision = .fast
        for variant in KernelVariant.supportedHere {
            Compute.kernels = variant
            Compute.attentionTiles = .automatic(precision: .fast, kernels: variant)
            try replayGreedyContinuation(label: "fast, \(variant)")
        }
    }

    /// The KV cache stored as f16 (the CLI's default in the fast precision) and as bf16 stays within llama.cpp's noise
    /// (whose reference run stores f16 keys and values, and whose spread includes an f32 KV cache), in prefill and
    /// over the greedy continuation.
    ///
    /// q8_0 rounds keys and values to 8 bits and leaves that noise: its budget is how far llama.cpp's own logits
    /// move when llama.cpp stores its cache as plain q8_0 blocks (scripts/measure_llamacpp_kv_spread.py,
    /// kv-spread.json: flash attention on, which llama.cpp needs for a q8_0 cache, and its rotation of K and V
    /// before quantizing turned off, since ours stores plain blocks), or llama.cpp's noise if that is larger.
    /// Top-1 must still be llama.cpp's at every position where its margin exceeds its noise.
    func testQ8_0KVCacheStaysWithinLlamaCppsOwnQ8_0Spread() throws {
        let saved = Compute.kvType
        defer { Compute.kvType = saved }
        Compute.kvType = .q8_0
        let spread = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("smollm2-llamacpp/kv-spread.json")))) as! [String: Any]
        func budget(_ prompt: String) throws -> Float {
            let results = (spread["results"] as! [String: Any])[prompt] as! [String: Any]
            let q8 = Float((results["q8_0_flash_attn_no_rotation"] as! [String: Any])["max_abs"] as! Double)
            return max(q8, try Reference(prompt).noise)
        }
        try comparePrefill("3000", label: ", KV q8_0", budget: try budget("3000"))
        try replayGreedyContinuation(label: "exact, KV q8_0", budget: try budget("greedy"))
    }

    func testHalfPrecisionKVCachesStayWithinLlamaCppsNoise() throws {
        let saved = Compute.kvType
        defer { Compute.kvType = saved }
        for type in [KVType.f16, .bf16] {
            Compute.kvType = type
            try comparePrefill("3000", label: ", KV \(type)")
            try replayGreedyContinuation(label: "exact, KV \(type)")
        }
    }

    func replayGreedyContinuation(label: String = "exact", budget: Float? = nil) throws {
        let model = try Self.model()
        let r = try Reference("greedy")
        let source = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("smollm2-llamacpp/SOURCE.json")))) as! [String: Any]
        let promptLength = (source["greedy"] as! [String: Any])["prompt_tokens"] as! Int
        let cache = KVCache(config: model.config)
        var agreement = Agreement()
        var hidden = try model.forward(tokens: Array(r.tokens[..<promptLength]), cache: cache)
        var logits = model.logits(hidden: hidden, rows: (promptLength - 1)..<promptLength)
        for p in (promptLength - 1)..<(r.tokens.count - 1) {
            let row = UnsafeBufferPointer(start: logits.row(0), count: logits.cols)
            agreement.add(row, position: p, r)
            // llama.cpp's decode chose r.tokens[p + 1]; where the margin is clear, so do we.
            if r.topLogits[p * r.k] - r.topLogits[p * r.k + 1] > r.noise {
                XCTAssertEqual(TopK.indices(row, count: 1)[0], r.tokens[p + 1], "greedy step at position \(p)")
            }
            hidden = try model.forward(tokens: [r.tokens[p + 1]], cache: cache)
            logits = model.logits(hidden: hidden, rows: 0..<1)
        }
        agreement.check("greedy continuation (\(r.tokens.count - promptLength) decode steps, \(label))", noise: budget ?? r.noise)
    }
}
