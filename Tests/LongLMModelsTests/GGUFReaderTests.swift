import XCTest
@testable import LongLMModels
import LongLMCore

/// Builds small GGUF files byte by byte, so each malformed case differs from a valid file in one place.
struct GGUFBuilder {
    var version: UInt32 = 3
    var metadata: [(String, (inout Data) -> Void, UInt32)] = []
    var tensors: [(name: String, shape: [UInt64], type: UInt32, offset: UInt64, bytes: Int)] = []
    var alignment = 32

    static func u32(_ v: UInt32, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    static func u64(_ v: UInt64, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    static func string(_ s: String, _ d: inout Data) { u64(UInt64(s.utf8.count), &d); d.append(contentsOf: Array(s.utf8)) }

    mutating func addString(_ key: String, _ value: String) { metadata.append((key, { GGUFBuilder.string(value, &$0) }, 8)) }
    mutating func addUInt32(_ key: String, _ value: UInt32) { metadata.append((key, { GGUFBuilder.u32(value, &$0) }, 4)) }
    mutating func addFloat32(_ key: String, _ value: Float) { metadata.append((key, { GGUFBuilder.u32(value.bitPattern, &$0) }, 6)) }
    mutating func addStringArray(_ key: String, _ values: [String]) {
        metadata.append((key, { d in GGUFBuilder.u32(8, &d); GGUFBuilder.u64(UInt64(values.count), &d); values.forEach { GGUFBuilder.string($0, &d) } }, 9))
    }
    /// An F32 tensor of the given shape (ne[0] first) with data after the previous one.
    mutating func addF32Tensor(_ name: String, shape: [UInt64]) {
        let offset = tensors.last.map { UInt64(($0.bytes + Int($0.offset) + alignment - 1) / alignment * alignment) } ?? 0
        tensors.append((name, shape, 0, offset, Int(shape.reduce(1, *)) * 4))
    }

    func build() -> Data {
        var d = Data()
        GGUFBuilder.u32(0x4655_4747, &d)
        GGUFBuilder.u32(version, &d)
        GGUFBuilder.u64(UInt64(tensors.count), &d)
        GGUFBuilder.u64(UInt64(metadata.count), &d)
        for (key, write, type) in metadata { GGUFBuilder.string(key, &d); GGUFBuilder.u32(type, &d); write(&d) }
        for t in tensors {
            GGUFBuilder.string(t.name, &d)
            GGUFBuilder.u32(UInt32(t.shape.count), &d)
            t.shape.forEach { GGUFBuilder.u64($0, &d) }
            GGUFBuilder.u32(t.type, &d)
            GGUFBuilder.u64(t.offset, &d)
        }
        while d.count % alignment != 0 { d.append(0) }
        let dataStart = d.count
        for t in tensors {
            while d.count < dataStart + Int(t.offset) { d.append(0) }
            for i in 0..<(t.bytes / 4) { GGUFBuilder.u32(Float(i).bitPattern, &d) }
        }
        return d
    }

    static var valid: GGUFBuilder {
        var b = GGUFBuilder()
        b.addString("general.architecture", "llama")
        b.addUInt32("llama.block_count", 1)
        b.addFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        b.addStringArray("tokenizer.ggml.tokens", ["<unk>", "a", "b"])
        b.addF32Tensor("token_embd.weight", shape: [4, 3])
        b.addF32Tensor("output_norm.weight", shape: [4])
        return b
    }
}

final class GGUFReaderTests: XCTestCase {
    func write(_ data: Data, _ name: String = #function) throws -> String {
        let path = NSTemporaryDirectory() + "longlm-\(name.filter(\.isLetter))-\(UUID().uuidString).gguf"
        try data.write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func expectError(_ data: Data, contains fragment: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write(data)
        XCTAssertThrowsError(try GGUFFile(path: path), file: file, line: line) { error in
            XCTAssertTrue(String(describing: error).contains(fragment), "'\(error)' should mention '\(fragment)'", file: file, line: line)
        }
    }

    func testValidFileReadsMetadataTensorsAndData() throws {
        let file = try GGUFFile(path: write(GGUFBuilder.valid.build()))
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file["general.architecture"]?.string, "llama")
        XCTAssertEqual(file["llama.block_count"]?.int, 1)
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), ["<unk>", "a", "b"])
        let t = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual([t.rows, t.cols], [3, 4])
        XCTAssertEqual(try file.dequantize(t).array, (0..<12).map(Float.init))
        XCTAssertEqual(file.tensor(named: "output_norm.weight")?.data.load(fromByteOffset: 4, as: Float.self), 1)
    }

    func testVersionTwoIsAccepted() throws {
        var b = GGUFBuilder.valid; b.version = 2
        XCTAssertEqual(try GGUFFile(path: write(b.build())).version, 2)
    }

    func testRealModelHeaderParses() throws {
        guard FileManager.default.fileExists(atPath: Fixtures.gemmaModel) else { throw XCTSkip("run scripts/setup.sh") }
        let file = try GGUFFile(path: Fixtures.gemmaModel)
        XCTAssertEqual(file.tensors.count, 236)
        XCTAssertEqual(file["gemma3.context_length"]?.int, 32768)
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.array?.count, 262144)
    }

    func testTruncatedFilesAreRejectedWithTheFieldAndOffsetAtEveryCut() throws {
        let data = GGUFBuilder.valid.build()
        // Every cut inside the header, metadata and tensor directory, and inside the data.
        for cut in stride(from: 0, to: data.count - 1, by: 3) {
            let path = try write(data.prefix(cut))
            XCTAssertThrowsError(try GGUFFile(path: path), "cut at \(cut)") { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains("offset") || text.contains("magic"), "cut \(cut): \(text)")
            }
        }
    }

    func testBadMagicIsRejected() throws {
        var data = GGUFBuilder.valid.build(); data[0] = 0x00
        try expectError(data, contains: "not a GGUF file")
    }

    func testVersionOneIsRejected() throws {
        var b = GGUFBuilder.valid; b.version = 1
        try expectError(b.build(), contains: "unsupported GGUF version 1")
    }

    func testHugeStringLengthIsRejectedBeforeAllocating() throws {
        var b = GGUFBuilder.valid
        b.metadata.append(("general.name", { GGUFBuilder.u64(UInt64.max / 2, &$0) }, 8))
        try expectError(b.build(), contains: "general.name")
    }

    func testHugeArrayCountIsRejected() throws {
        var b = GGUFBuilder.valid
        b.metadata.append(("big", { GGUFBuilder.u32(4, &$0); GGUFBuilder.u64(1 << 60, &$0) }, 9))
        try expectError(b.build(), contains: "array length")
    }

    func testTensorExtentPastTheEndIsRejectedNamingTheTensor() throws {
        var b = GGUFBuilder.valid
        b.tensors[1].shape = [1 << 20]   // claims 4 MiB of data the file does not have
        b.tensors[1].bytes = 16
        try expectError(b.build(), contains: "'output_norm.weight'")
    }

    func testUnknownTensorTypeIsRejected() throws {
        var b = GGUFBuilder.valid; b.tensors[0].type = 99
        try expectError(b.build(), contains: "unknown tensor type 99")
    }

    func testMisalignedTensorOffsetIsRejected() throws {
        var b = GGUFBuilder.valid; b.tensors[1].offset += 4
        try expectError(b.build(), contains: "alignment")
    }

    func testTooManyDimensionsAreRejected() throws {
        var b = GGUFBuilder.valid; b.tensors[1].shape = [1, 1, 1, 1, 4]
        try expectError(b.build(), contains: "n_dims 5")
    }

    func testDuplicateKeyIsRejected() throws {
        var b = GGUFBuilder.valid; b.addUInt32("llama.block_count", 2)
        try expectError(b.build(), contains: "duplicate metadata key 'llama.block_count'")
    }

    func testUnknownValueTypeIsRejected() throws {
        var b = GGUFBuilder.valid; b.metadata.append(("odd", { GGUFBuilder.u32(0, &$0) }, 77))
        try expectError(b.build(), contains: "unknown value type 77")
    }

    func testRowNotAWholeNumberOfBlocksIsRejected() throws {
        var b = GGUFBuilder.valid; b.tensors[0].type = GGMLType.q8_0.rawValue   // ne[0] = 4 is not a multiple of 32
        try expectError(b.build(), contains: "block size 32")
    }

    func testMissingConfigKeyNamesTheKey() throws {
        let path = try write(GGUFBuilder.valid.build())
        XCTAssertThrowsError(try ModelLoader.config(path: path)) { error in
            XCTAssertTrue(String(describing: error).contains("llama.embedding_length"), "\(error)")
        }
    }
}

final class SafetensorsTests: XCTestCase {
    func checkpoint(header: String, dataBytes: Int) throws -> String {
        var d = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(Data(count: dataBytes))
        let path = NSTemporaryDirectory() + "longlm-\(UUID().uuidString).safetensors"
        try d.write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testHeaderThatLiesAboutItsDataIsRejected() throws {
        let path = try checkpoint(header: #"{"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}"#, dataBytes: 32)
        XCTAssertThrowsError(try SafetensorsCheckpoint(paths: [path])) { XCTAssertTrue("\($0)".contains("'w'"), "\($0)") }
    }

    func testShapeThatDisagreesWithTheByteCountIsRejected() throws {
        let path = try checkpoint(header: #"{"w": {"dtype": "F16", "shape": [4, 4], "data_offsets": [0, 64]}}"#, dataBytes: 64)
        XCTAssertThrowsError(try SafetensorsCheckpoint(paths: [path])) { XCTAssertTrue("\($0)".contains("needs 32"), "\($0)") }
    }

    func testHeaderLengthPastTheEndIsRejected() throws {
        var d = Data(); withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { d.append(contentsOf: $0) }
        let path = NSTemporaryDirectory() + "longlm-\(UUID().uuidString).safetensors"
        try d.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafetensorsCheckpoint(paths: [path])) { XCTAssertTrue("\($0)".contains("header length"), "\($0)") }
    }

    func testValidCheckpointReadsF32() throws {
        let path = try checkpoint(header: #"{"__metadata__": {}, "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}"#, dataBytes: 16)
        let c = try SafetensorsCheckpoint(paths: [path])
        let t = try XCTUnwrap(c.tensor(named: "w"))
        XCTAssertEqual([t.rows, t.cols], [2, 2])
        XCTAssertEqual(try c.dequantize(t).array, [0, 0, 0, 0])
    }

    func testMissingConfigFieldIsAnErrorNamingTheKey() throws {
        let dir = NSTemporaryDirectory() + "longlm-hf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let source = Fixtures.path("hf-tiny/llama-mha")
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: dir + "/model.safetensors")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
        config.removeValue(forKey: "intermediate_size")
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        XCTAssertThrowsError(try ModelLoader.load(path: dir)) { XCTAssertTrue("\($0)".contains("'intermediate_size'"), "\($0)") }
    }

    func testUnimplementedRopeScalingIsRefusedNotIgnored() throws {
        let dir = NSTemporaryDirectory() + "longlm-hf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let source = Fixtures.path("hf-tiny/llama-mha")
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: dir + "/model.safetensors")
        for scaling in [["type": "longrope", "factor": 2.0], ["rope_type": "su", "factor": 4.0]] as [[String: Any]] {
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
            config["rope_scaling"] = scaling
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
            XCTAssertThrowsError(try ModelLoader.config(path: dir)) { XCTAssertTrue("\($0)".contains("RoPE scaling"), "\($0)") }
        }
    }
}
