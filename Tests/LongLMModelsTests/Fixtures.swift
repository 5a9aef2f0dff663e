import Foundation
import LongLMCore

/// Paths of committed fixtures and of the default model (assembled by scripts/setup.sh).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let repository = URL(fileURLWithPath: root).deletingLastPathComponent().deletingLastPathComponent().path
    static let gemmaModel = repository + "/models/gemma-3-270m-q4_k_m.gguf"

    static func path(_ relative: String) -> String { root + "/" + relative }

    static func floats(_ relative: String) throws -> (shape: [Int], values: [Float]) {
        let (shape, values) = try NPY.read(path: path(relative))
        return (shape, values)
    }
    static func ints(_ relative: String) throws -> [Int32] { try NPY.read(path: path(relative)).floats.map { Int32($0) } }
}
