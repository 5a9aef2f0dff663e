import Foundation
import LongLMCore

/// A KV cache on disk (`generate --save-kv DIR` / `--load-kv DIR`): one file per rank, `rank-R-of-N.kv`, holding a
/// JSON header and then, layer by layer, the rank's cached keys and values (before RoPE, in cache order, stored as
/// the cache's `KVType`).
/// The header says what the cache is valid for (the model's fingerprint, the method and the prompt length its
/// positions were placed for, the layout and rank count) and the whole sequence's tokens; loading checks all of it,
/// so a cache is never used with attention it was not made for.
///
/// File layout: the 8 bytes `LLMKV001`, the header's length (UInt64, little-endian), the header (JSON), then for each
/// layer `count` rows of keys (each `kvType.bytes(rowWidth)` bytes) followed by as many of values.
public enum KVCacheFile {
    public struct Header: Codable, Equatable, Sendable {
        /// `ModelFingerprint` of the model file(s) the cache was computed with.
        public var model: String
        /// The method's description (with every parameter) and the prompt length its scheme was built for.
        public var method: String
        public var schemeLength: Int
        /// "single" on one process, else the layout's name; the number of ranks and this file's rank.
        public var layout: String
        public var ranks: Int
        public var rank: Int
        /// The sequence's tokens (prompt and generated tokens in the cache), the same in every rank's file.
        public var tokens: [Int32]
        /// The positions each rank holds, in cache order (one process: one list); this rank's are `heldPositions[rank]`.
        public var heldPositions: [[Int32]]
        public var layerCount: Int
        public var rowWidth: Int
        /// How the rows are stored (`KVType`'s name); files without it hold f32.
        public var kvType: String?

        public init(model: String, method: String, schemeLength: Int, layout: String, ranks: Int, rank: Int, tokens: [Int32],
                    heldPositions: [[Int32]], layerCount: Int, rowWidth: Int, kvType: KVType = .f32) {
            self.model = model
            self.method = method
            self.schemeLength = schemeLength
            self.layout = layout
            self.ranks = ranks
            self.rank = rank
            self.tokens = tokens
            self.heldPositions = heldPositions
            self.layerCount = layerCount
            self.rowWidth = rowWidth
            self.kvType = kvType.rawValue
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case malformed(path: String, reason: String)
        case mismatch(path: String, what: String, saved: String, now: String)

        public var description: String {
            switch self {
            case .malformed(let path, let reason): return "\(path) is not a usable KV cache file: \(reason)"
            case .mismatch(let path, let what, let saved, let now):
                return "\(path) was saved for \(what) \(saved), but this run has \(now): the cache cannot be used"
            }
        }
    }

    static let magic = Array("LLMKV001".utf8)

    public static func fileName(rank: Int, ranks: Int) -> String { "rank-\(rank)-of-\(ranks).kv" }

    /// Writes this rank's cache (replacing the file atomically).
    public static func write(_ cache: KVCache, header: Header, to path: String) throws {
        precondition(header.heldPositions[header.rank] == cache.positions, "the header's positions are the cache's")
        precondition(header.kvType == cache.type.rawValue, "the header's KV type is the cache's")
        let writer = try OutputFile(path).replacing()
        let headerBytes = try JSONEncoder().encode(header)
        var length = UInt64(headerBytes.count).littleEndian
        try writer.write(Data(magic) + Data(bytes: &length, count: 8) + headerBytes)
        for layer in 0..<cache.layerCount {
            try cache.keys[layer].withUnsafeBytes { try writer.write(Data($0)) }
            try cache.values[layer].withUnsafeBytes { try writer.write(Data($0)) }
        }
        try writer.commit()
    }

    /// Reads a file written by `write` into `cache` (replacing its contents) after checking its header's shape against
    /// the cache and its sizes against the file; returns the header for the caller's own checks (model, method,
    /// layout, rank).
    public static func read(_ path: String, into cache: KVCache, vocabularySize: Int) throws -> Header {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw Failure.malformed(path: path, reason: "\(error)") }
        func bad(_ reason: String) -> Failure { .malformed(path: path, reason: reason) }
        guard file.size >= 16, Array(UnsafeRawBufferPointer(start: file.base, count: 8)) == magic else {
            throw bad("it does not start with the KV cache file signature")
        }
        let headerLength = Int(clamping: UInt64(littleEndian: file.base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        guard headerLength <= min(file.size - 16, 1 << 30) else { throw bad("its header length \(headerLength) is past the end") }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes: file.base + 16, count: headerLength))
        } catch {
            throw bad("its header is not valid (\(error))")
        }
        guard header.layerCount == cache.layerCount, header.rowWidth == cache.rowWidth else {
            throw Failure.mismatch(path: path, what: "layers x key width", saved: "\(header.layerCount) x \(header.rowWidth)",
                                   now: "\(cache.layerCount) x \(cache.rowWidth)")
        }
        let savedType = header.kvType ?? KVType.f32.rawValue
        guard savedType == cache.type.rawValue else {
            throw Failure.mismatch(path: path, what: "KV type", saved: savedType, now: "\(cache.type) (--kv-type)")
        }
        guard header.ranks >= 1, header.heldPositions.count == header.ranks, (0..<header.ranks).contains(header.rank) else {
            throw bad("its rank \(header.rank) of \(header.ranks) does not match its position table")
        }
        guard header.tokens.allSatisfy({ $0 >= 0 && Int($0) < vocabularySize }) else { throw bad("a token is outside the vocabulary") }
        let all = header.heldPositions.flatMap { $0 }
        guard all.count == header.tokens.count, Set(all).count == all.count, all.allSatisfy({ $0 >= 0 && Int($0) < header.tokens.count }) else {
            throw bad("its positions do not cover its \(header.tokens.count) tokens exactly once")
        }
        let positions = header.heldPositions[header.rank]
        let bytesPerArray = positions.count * cache.rowBytes
        let expected = 16 + headerLength + 2 * header.layerCount * bytesPerArray
        guard file.size == expected else { throw bad("it has \(file.size) bytes where its header implies \(expected) (truncated?)") }
        var keys: [[UInt8]] = [], values: [[UInt8]] = []
        var offset = 16 + headerLength
        func rows() -> [UInt8] {
            defer { offset += bytesPerArray }
            return Array(UnsafeRawBufferPointer(start: file.base + offset, count: bytesPerArray))
        }
        for _ in 0..<header.layerCount {
            keys.append(rows())
            values.append(rows())
        }
        cache.replaceContents(positions: positions, keys: keys, values: values)
        return header
    }
}

/// A cheap identity of model files for checking a saved KV cache against the model it is used with: FNV-1a (64-bit)
/// over each file's name and size and its first and last 32 MiB (the whole of a smaller file). Not a cryptographic
/// hash: it tells a different model file from the one a cache was saved with, not a forged one.
public enum ModelFingerprint {
    public static func of(path: String) throws -> String {
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".safetensors") || $0 == "config.json" }.sorted()
                .map { (path as NSString).appendingPathComponent($0) }
            : [path]
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: UnsafeRawBufferPointer) {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }
        let window = 32 << 20
        for name in files {
            let file = try MappedFile(path: name)
            var header = "\((name as NSString).lastPathComponent):\(file.size)"
            header.withUTF8 { mix(UnsafeRawBufferPointer($0)) }
            if file.size <= 2 * window {
                mix(UnsafeRawBufferPointer(start: file.base, count: file.size))
            } else {
                mix(UnsafeRawBufferPointer(start: file.base, count: window))
                mix(UnsafeRawBufferPointer(start: file.base + file.size - window, count: window))
            }
        }
        return String(format: "fnv1a64:%016llx", hash)
    }
}
