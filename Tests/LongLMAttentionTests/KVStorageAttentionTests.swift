import XCTest
@testable import LongLMAttention
import LongLMCore

/// Keys and values stored narrower than f32 (`KVType`) are decoded inside the kernel: attention over the stored
/// rows must equal, bit for bit, attention over f32 arrays holding the same decoded values (with the transformed
/// keys rounded through the same `transformedKeyType`, 16 bits for f16 and bf16), for every
/// scheme (one and two key classes, logit noise, query scaling), with and without a window, in prefill and in
/// decode (where the keys are split across threads).
final class KVStorageAttentionTests: XCTestCase {
    let heads = 4, kvHeads = 2, d = 32

    func schemes(promptLength: Int) throws -> [(String, any PositionScheme)] {
        [
            ("rope", RotaryScheme(table: standardTable(d: d))),
            ("selfextend", SelfExtend(groupSize: 4, window: 8, table: standardTable(d: d))),
            ("dca", DualChunk(chunkSize: 24, localWindow: 6, table: standardTable(d: d))),
            ("gali", try GALI(trainedContext: 32, localWindow: 4, chunk: .size(9), promptLength: promptLength, noise: .gaussian,
                              seed: 3, table: standardTable(d: d))),
            ("yarn+logn", LogNScaling(RopeScaling.yarn(factor: 4, originalContext: 32, betaFast: 32, betaSlow: 1, attentionFactor: nil)
                .scheme(base: 10000, dimensions: d, pairing: .halves, promptLength: promptLength), trainedContext: 32)),
        ]
    }

    func stored(_ x: [Float], as type: KVType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: type.bytes(x.count))
        x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBytes { type.encode(xs.baseAddress!, count: x.count, into: $0.baseAddress!) } }
        return out
    }

    func decoded(_ bytes: [UInt8], as type: KVType, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { type.decode(b.baseAddress!, count: count, into: $0.baseAddress!) } }
        return out
    }

    func testStoredKeysAndValuesGiveTheAttentionOfTheirDecodedValuesExactly() throws {
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d), width = kvHeads * d
        for (T, S) in [(45, 45), (1, 700), (20, 300)] {
            var rng = SplitMix(seed: UInt64(T * 31 + S))
            let q = (0..<(T * heads * d)).map { _ in rng.nextFloat() * 2 - 1 }
            let k = (0..<(S * width)).map { _ in (rng.nextFloat() * 2 - 1) * 3 }
            let v = (0..<(S * width)).map { _ in rng.nextFloat() * 2 - 1 }
            let keyPositions = (0..<Int32(S)).map { $0 }
            let queryPositions = (0..<Int32(T)).map { Int32(S - T) + $0 }
            for type in [KVType.f16, .bf16, .q8_0] {
                let storedKeys = stored(k, as: type), storedValues = stored(v, as: type)
                let k2 = decoded(storedKeys, as: type, count: k.count), v2 = decoded(storedValues, as: type, count: v.count)
                XCTAssertNotEqual(k2, k, "\(type) rounds")
                for (name, scheme) in try schemes(promptLength: S) {
                    for window in [nil, 6] as [Int?] {
                        // The default rounding of transformed keys, and none.
                        for rounding in Set([type.transformedKeyType, .f32]) {
                            // f32 arrays of the decoded values, whose transformed keys are rounded the same way.
                            var expected = [Float](repeating: .nan, count: T * heads * d)
                            AttentionCall.withArrays(queries: q, queryPositions: queryPositions, keys: k2, values: v2,
                                                     keyPositions: keyPositions, shape: shape, scheme: scheme, scale: 0.2,
                                                     window: window, layer: 1) { call in
                                var call = call
                                call.keys.transformedKeyType = rounding
                                expected.withUnsafeMutableBufferPointer { TiledAttention.attend(call, output: $0.baseAddress!, keyBlock: 64) }
                            }
                            var got = [Float](repeating: .nan, count: T * heads * d)
                            q.withUnsafeBufferPointer { qp in
                                storedKeys.withUnsafeBytes { kp in
                                    storedValues.withUnsafeBytes { vp in
                                        var block = KeyValueBlock(keys: KVRows(base: kp.baseAddress!, type: type, width: width),
                                                                  values: KVRows(base: vp.baseAddress!, type: type, width: width),
                                                                  positions: keyPositions)
                                        block.transformedKeyType = rounding
                                        let call = AttentionCall(queries: qp.baseAddress!, queryPositions: queryPositions, keys: block,
                                                                 shape: shape, scheme: scheme, scale: 0.2, window: window, layer: 1)
                                        got.withUnsafeMutableBufferPointer { TiledAttention.attend(call, output: $0.baseAddress!, keyBlock: 64) }
                                    }
                                }
                            }
                            XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(type) rounded to \(rounding) \(name) T=\(T) S=\(S) window=\(String(describing: window))")
                        }
                    }
                }
            }
        }
    }

    func testRowsFromAnOffsetDecodeTheSameValues() {
        let width = kvHeads * d
        var rng = SplitMix(seed: 9)
        let x = (0..<(10 * width)).map { _ in rng.nextFloat() - 0.5 }
        for type in KVType.allCases {
            let bytes = stored(x, as: type)
            let all = decoded(bytes, as: type, count: x.count)
            bytes.withUnsafeBytes { b in
                let rows = KVRows(base: b.baseAddress!, type: type, width: width).rows(from: 3)
                var head = [Float](repeating: 0, count: d)
                head.withUnsafeMutableBufferPointer { rows.decode(row: 2, columns: d..<(2 * d), into: $0.baseAddress!) }
                XCTAssertEqual(head, Array(all[(5 * width + d)..<(5 * width + 2 * d)]), "\(type)")
            }
        }
    }
}
