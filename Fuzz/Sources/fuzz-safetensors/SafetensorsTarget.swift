import FuzzSupport
@testable import LongLMModels

// A safetensors file: the header, then every (small) tensor the reader accepts, dequantized.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = Scratch.write(input(data, size), to: "model.safetensors")
    guard let checkpoint = try? SafetensorsCheckpoint(paths: [path]) else { return 0 }
    for name in checkpoint.tensorNames.prefix(8) {
        guard let tensor = checkpoint.tensor(named: name), tensor.byteCount <= 1 << 16 else { continue }
        _ = try? checkpoint.dequantize(tensor)
    }
    return 0
}
