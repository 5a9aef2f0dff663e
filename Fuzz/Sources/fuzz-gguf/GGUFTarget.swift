import FuzzSupport
@testable import LongLMModels

// A GGUF file: the reader, then what loading does with a file the reader accepts (the model config, the
// tensor view with fused tensors split, the config against the tensors, the tokenizer, and a short
// encode/decode with that tokenizer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = Scratch.write(input(data, size), to: "model.gguf")
    guard let file = try? GGUFFile(path: path) else { return 0 }
    for tensor in file.tensors.prefix(8) where tensor.byteCount <= 1 << 16 {
        if let stored = file.tensor(named: tensor.name) { _ = try? file.dequantize(stored) }
    }
    // Through the view that splits fused tensors (its shape checks read the hostile sizes).
    if let config = try? ModelLoader.ggufConfig(file), let view = try? GGUFTensorView(file: file, config: config) {
        _ = try? config.check(against: view, naming: .gguf)
        for name in ["blk.0.attn_q.weight", "blk.0.attn_v.bias", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"] {
            if let t = view.tensor(named: name), t.byteCount <= 1 << 16 { _ = try? view.dequantize(t) }
        }
    }
    if let tokenizer = try? TokenizerLoader.load(gguf: file) {
        // An unknown pre-tokenizer cannot encode; decoding still works.
        let ids = (try? tokenizer.encode("Hello wörld, <b> 123 ▁x\n", addSpecial: true)) ?? [0, 1]
        _ = tokenizer.decode(ids)
        for id in ids { _ = tokenizer.pieceBytes(id) }
    }
    return 0
}
