import FuzzSupport
@testable import LongLMModels

// A tokenizer.json; when it loads, a short encode/decode with it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = Scratch.write(input(data, size), to: "tokenizer.json")
    guard let tokenizer = try? TokenizerLoader.load(tokenizerJSON: path, configDirectory: nil) else { return 0 }
    let ids = try! tokenizer.encode("Hello wörld, it's 2024!\n\t<|x|> ", addSpecial: true)
    _ = tokenizer.decode(ids)
    for id in ids { _ = tokenizer.pieceBytes(id) }
    return 0
}
