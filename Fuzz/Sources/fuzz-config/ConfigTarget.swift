import FuzzSupport
@testable import LongLMModels

// A Hugging Face config.json, read as `ModelLoader.config(path:)` reads it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Scratch.write(input(data, size), to: "config.json")
    _ = try? ModelLoader.hfConfig(directory: Scratch.directory)
    return 0
}
