import XCTest
@testable import LongLMModels
import LongLMCore

/// Tiny random checkpoints of every GGUF architecture, converted by llama.cpp's own converter and quantized by its
/// quantizer (scripts/make_gguf_arch_fixtures.py, Tests/Fixtures/gguf-arch/SOURCE.json), against llama.cpp's
/// logits for every position of every prompt.
///
/// The bound is llama.cpp's own run-to-run noise, measured by the script per file and prompt (SOURCE.json):
///  - `max_abs`: the largest |logit difference| between llama.cpp's default run (flash attention off, batch 512,
///    f16 KV cache) and the same run with flash attention on, with a batch of 7, with an f32 KV cache, and, for a
///    quantized file, on the same weights dequantized into an F32 GGUF (llama.cpp rounds the activations to 8 bits
///    in every product with a quantized matrix; we do not). Measured 0.0013-0.013 on the F32 files, 0.031-0.11 on
///    the quantized ones.
///  - `dequantized_noise` (quantized files): the same spread of llama.cpp's configurations on that dequantized
///    copy. We compute the dequantized weights exactly in f32, so we stand where llama.cpp's dequantized run
///    stands, up to its f16/flash-attention rounding; by the triangle inequality our distance to llama.cpp's
///    default run is then at most max_abs + dequantized_noise.
/// So the bound is max_abs (F32 files) or max_abs + dequantized_noise (quantized files), at every position and
/// vocabulary entry; and our top-1 token must be llama.cpp's wherever llama.cpp's own top-2 margin is larger.
final class GGUFArchitectureTests: XCTestCase {
    static let architectures = ["llama", "mistral", "qwen2", "qwen3", "phi3", "mistral3"]
    /// IQ4_NL needs the dequantizer of the quant branch (issue 9, part 3).
    static let types = ["F32", "Q8_0", "Q4_K_M", "Q4_1", "IQ4_NL"]

    struct Measurement { let file: String; let prompt: String; let difference: Float; let noise: Float; let top1Checked: Int; let top1Differs: [Int] }

    /// SOURCE.json: files -> name -> noise -> prompt -> max_abs.
    static func source() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gguf-arch/SOURCE.json")))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// Runs every prompt the script ran on `arch`-`type` and compares with llama.cpp.
    func compare(_ arch: String, _ type: String) throws -> [Measurement] {
        let files = try Self.source()["files"] as! [String: Any]
        let name = "\(arch)-\(type)"
        guard let entry = files[name] as? [String: Any], let noises = entry["noise"] as? [String: Any] else {
            XCTFail("\(name) is not in gguf-arch/SOURCE.json"); return []
        }
        let model = try ModelLoader.ggufModel(path: Fixtures.path("gguf-arch/\(name).gguf"))
        var results: [Measurement] = []
        for prompt in noises.keys.sorted(by: { Int($0)! < Int($1)! }) {
            let measured = noises[prompt] as! [String: Any]
            let noise = Float(measured["max_abs"] as! Double) + Float(measured["dequantized_noise"] as? Double ?? 0)
            let tokens = try Fixtures.ints("gguf-arch/prompt-\(prompt).npy")
            let (shape, reference) = try Fixtures.floats("gguf-arch/\(name)-\(prompt).npy")
            XCTAssertEqual(shape, [tokens.count, model.config.vocabularySize], name)
            let hidden = try model.forward(tokens: tokens, cache: KVCache(config: model.config))
            let logits = model.logits(hidden: hidden, rows: 0..<tokens.count)
            let V = logits.cols
            var largest: Float = 0, checked = 0, differs: [Int] = []
            for t in 0..<tokens.count {
                let ours = UnsafeBufferPointer(start: logits.row(t), count: V)
                let row = Array(reference[(t * V)..<((t + 1) * V)])
                for (a, b) in zip(ours, row) { largest = max(largest, abs(a - b)) }
                let top = row.withUnsafeBufferPointer { TopK.indices($0, count: 2) }
                if row[Int(top[0])] - row[Int(top[1])] > noise {
                    checked += 1
                    if TopK.indices(ours, count: 1)[0] != top[0] { differs.append(t) }
                }
            }
            results.append(Measurement(file: name, prompt: prompt, difference: largest, noise: noise, top1Checked: checked, top1Differs: differs))
        }
        return results
    }

    func check(_ type: String) throws {
        var report: [String] = []
        for arch in Self.architectures {
            for m in try compare(arch, type) {
                report.append("\(m.file) prompt \(m.prompt): max |ours - llama.cpp| \(m.difference), llama.cpp noise \(m.noise), top-1 equal at \(m.top1Checked - m.top1Differs.count)/\(m.top1Checked) clear positions")
                XCTAssertLessThanOrEqual(m.difference, m.noise, "\(m.file) prompt \(m.prompt)")
                XCTAssertEqual(m.top1Differs, [], "\(m.file) prompt \(m.prompt): top-1 differs where llama.cpp's margin exceeds its noise")
            }
        }
        print(report.joined(separator: "\n"))
    }

    func testF32FilesOfEveryArchitectureMatchLlamaCppWithinItsNoise() throws { try check("F32") }
    func testQ8_0FilesOfEveryArchitectureMatchLlamaCppWithinItsNoise() throws { try check("Q8_0") }
    func testQ4_K_MFilesOfEveryArchitectureMatchLlamaCppWithinItsNoise() throws { try check("Q4_K_M") }
    func testQ4_1FilesOfEveryArchitectureMatchLlamaCppWithinItsNoise() throws { try check("Q4_1") }
    func testIQ4_NLFilesOfEveryArchitectureMatchLlamaCppWithinItsNoise() throws { try check("IQ4_NL") }
}
