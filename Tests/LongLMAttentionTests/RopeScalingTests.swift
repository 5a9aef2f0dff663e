import Foundation
import XCTest
@testable import LongLMAttention

final class RopeScalingTests: XCTestCase {
    // MARK: Scalar vectors of docs/methods.md §C

    func testYarnCorrectionRangeRatiosAndAttentionFactorMatchSpecC6() {
        let range = RopeScaling.yarnCorrectionRange(base: 1e4, dimensions: 128, originalContext: 4096, betaFast: 32, betaSlow: 1)
        XCTAssertEqual(range.low, 20)
        XCTAssertEqual(range.high, 46)
        let yarn = RopeScaling.yarn(factor: 4, originalContext: 4096, betaFast: 32, betaSlow: 1, attentionFactor: nil)
        let (frequencies, attentionFactor) = yarn.frequencies(base: 1e4, dimensions: 128)
        let ratios = zip(frequencies, RotaryTable.standardFrequencies(base: 1e4, dimensions: 128)).map { $0 / $1 }
        for m in 0...20 { XCTAssertEqual(ratios[m], 1, accuracy: 1e-12, "m=\(m) kept") }
        for m in 46..<64 { XCTAssertEqual(ratios[m], 0.25, accuracy: 1e-12, "m=\(m) divided by 4") }
        XCTAssertEqual(ratios[33], 0.625, accuracy: 1e-12)
        XCTAssertEqual(attentionFactor, 1.13863, accuracy: 5e-6)
        let scheme = yarn.scheme(base: 1e4, dimensions: 128, pairing: .halves, promptLength: 1) as! RotaryScheme
        XCTAssertEqual(scheme.logitMultiplier, 1.29648, accuracy: 5e-6)
        XCTAssertEqual(scheme.queryScale(12345), scheme.logitMultiplier)
    }

    func testLlama3BandsMatchSpecC7() {
        let frequencies = RopeScaling.llama3Frequencies(base: 5e5, dimensions: 128, factor: 8, lowFrequencyFactor: 1,
                                                        highFrequencyFactor: 4, originalContext: 8192)
        let ratios = zip(frequencies, RotaryTable.standardFrequencies(base: 5e5, dimensions: 128)).map { $0 / $1 }
        XCTAssertEqual(ratios.indices.filter { ratios[$0] == 1 }, Array(0...28))
        XCTAssertEqual(ratios.indices.filter { ratios[$0] == 1.0 / 8 }, Array(35...63))
        XCTAssertTrue((29...34).allSatisfy { ratios[$0] > 1.0 / 8 && ratios[$0] < 1 })
        XCTAssertEqual(ratios[30], 0.6437, accuracy: 5e-5)
    }

    func testNTKBasesMatchSpecC2AndC3() {
        XCTAssertEqual(RopeScaling.ntkBase(base: 1e4, dimensions: 128, factor: 4), 40_890, accuracy: 0.5)
        func dynamic(_ f: Double, _ n: Int) -> Double {
            RopeScaling.dynamicNTKBase(base: 1e4, dimensions: 128, factor: f, originalContext: 4096, sequenceLength: n)
        }
        XCTAssertEqual(dynamic(2, 8192), 30_528, accuracy: 0.5)
        XCTAssertEqual(dynamic(2, 16384), 72_196, accuracy: 0.5)
        XCTAssertEqual(dynamic(1, 8192), 20_221, accuracy: 0.5)
        XCTAssertEqual(dynamic(2, 4096), 1e4)
        XCTAssertEqual(dynamic(2, 100), 1e4, "n = max(seq_len, L0): short sequences keep the base")
    }

    func testLogNFactorsMatchSpecC5() {
        XCTAssertEqual(LogNScaling.factor(position: 2047, trainedContext: 2048), 1)
        XCTAssertEqual(LogNScaling.factor(position: 4095, trainedContext: 2048), 1.0909, accuracy: 5e-5)
        XCTAssertEqual(LogNScaling.factor(position: 8191, trainedContext: 2048), 1.1818, accuracy: 5e-5)
    }

    // MARK: transformers parity

    /// Tests/Fixtures/rope-scaling/frequencies.json, from scripts/make_rope_scaling_fixtures.py
    /// (transformers `ROPE_INIT_FUNCTIONS`; version recorded in the file).
    func testFrequenciesEqualTransformersRopeInitFunctions() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/rope-scaling/frequencies.json")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(json["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 14)
        for c in cases {
            let p = try XCTUnwrap(c["parameters"] as? [String: Any])
            let d = try XCTUnwrap(c["head_dim"] as? Int), maxPositions = try XCTUnwrap(c["max_position_embeddings"] as? Int)
            let base = try XCTUnwrap(p["rope_theta"] as? Double), factor = try XCTUnwrap(p["factor"] as? Double)
            let type = try XCTUnwrap(p["rope_type"] as? String)
            let scalings: [RopeScaling]
            switch type {
            case "linear": scalings = [.linear(factor: factor)]
            case "dynamic":
                // transformers' dynamic type uses max_position_embeddings as L0; consistent NTK uses the same base'(n).
                scalings = [.dynamicNTK(factor: factor, originalContext: maxPositions),
                            .consistentNTK(factor: factor, originalContext: maxPositions)]
            case "yarn":
                scalings = [.yarn(factor: factor, originalContext: try XCTUnwrap(p["original_max_position_embeddings"] as? Int),
                                  betaFast: p["beta_fast"] as? Double ?? 32, betaSlow: p["beta_slow"] as? Double ?? 1,
                                  attentionFactor: p["attention_factor"] as? Double)]
            case "llama3":
                scalings = [.llama3(factor: factor, lowFrequencyFactor: try XCTUnwrap(p["low_freq_factor"] as? Double),
                                    highFrequencyFactor: try XCTUnwrap(p["high_freq_factor"] as? Double),
                                    originalContext: try XCTUnwrap(p["original_max_position_embeddings"] as? Int))]
            default: XCTFail("unknown rope_type \(type)"); continue
            }
            let expected = try XCTUnwrap(c["inv_freq"] as? [Double])
            let expectedFactor = try XCTUnwrap(c["attention_scaling"] as? Double)
            for scaling in scalings {
                XCTAssertNoThrow(try scaling.validate())
                let (frequencies, attentionFactor) = scaling.frequencies(base: base, dimensions: d, sequenceLength: c["seq_len"] as? Int)
                XCTAssertEqual(frequencies.count, expected.count)
                let error = zip(frequencies, expected).map { abs($0 - $1) / abs($1) }.max()!
                XCTAssertLessThan(error, 1e-6, "\(scaling.name) d=\(d) seq_len=\(c["seq_len"] ?? "nil")")
                XCTAssertEqual(attentionFactor, expectedFactor, accuracy: 1e-12 * expectedFactor, scaling.name)
            }
        }
    }

    // MARK: Tiled kernel versus the naive reference

    /// (T, S, query block, key block): tiles that divide the lengths and tiles that do not, odd lengths, a decode row.
    let shapes = [(37, 37, 8, 16), (41, 41, 7, 13), (32, 32, 16, 16), (23, 53, 5, 9), (1, 45, 4, 16)]

    func checkTiledEqualsNaive(_ scaling: RopeScaling, base: Double = 1e4, promptLengths: (Int) -> [Int] = { [$0] },
                               logit: @escaping (_ promptLength: Int, _ pairing: RotaryPairing, Int, Int,
                                                 ArraySlice<Float>, ArraySlice<Float>) -> Double) {
        for pairing in [RotaryPairing.halves, .adjacent] {
            for (T, S, qb, kb) in shapes {
                for P in promptLengths(S) {
                    let scheme = scaling.scheme(base: base, dimensions: 16, pairing: pairing, promptLength: P)
                    let error = tiledVersusNaive(scheme: scheme, T: T, S: S, queryBlock: qb, keyBlock: kb) { i, j, q, k in
                        logit(P, pairing, i, j, q, k)
                    }
                    XCTAssertLessThan(error, 1e-5, "\(scaling.name) \(pairing) T=\(T) S=\(S) P=\(P) tiles \(qb)x\(kb)")
                }
            }
        }
    }

    func testTiledLinearEqualsNaive() {
        let theta = RotaryTable.standardFrequencies(base: 1e4, dimensions: 16)
        checkTiledEqualsNaive(.linear(factor: 4)) { _, pairing, i, j, q, k in
            // docs/methods.md §C.1: the same as positions p / s.
            NaiveAttention.rotatedDot(q, k, queryPosition: Double(i) / 4, keyPosition: Double(j) / 4,
                                      inverseFrequencies: theta, pairing: pairing)
        }
    }

    func testTiledStaticNTKEqualsNaive() {
        // docs/methods.md §C.2: base' = base * alpha^(d / (d - 2)).
        let theta = RotaryTable.standardFrequencies(base: 1e4 * pow(4, 16.0 / 14), dimensions: 16)
        checkTiledEqualsNaive(.ntk(factor: 4)) { _, pairing, i, j, q, k in
            NaiveAttention.rotatedDot(q, k, queryPosition: Double(i), keyPosition: Double(j), inverseFrequencies: theta, pairing: pairing)
        }
    }

    func testTiledYarnEqualsNaiveWithSquaredAttentionFactor() {
        let scaling = RopeScaling.yarn(factor: 4, originalContext: 256, betaFast: 32, betaSlow: 1, attentionFactor: nil)
        let (theta, attentionFactor) = scaling.frequencies(base: 1e4, dimensions: 16)
        XCTAssertEqual(RopeScaling.yarnCorrectionRange(base: 1e4, dimensions: 16, originalContext: 256, betaFast: 32, betaSlow: 1).high, 4)
        checkTiledEqualsNaive(scaling) { _, pairing, i, j, q, k in
            attentionFactor * attentionFactor
                * NaiveAttention.rotatedDot(q, k, queryPosition: Double(i), keyPosition: Double(j), inverseFrequencies: theta, pairing: pairing)
        }
    }

    func testTiledLlama3EqualsNaive() {
        let scaling = RopeScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 256)
        let theta = scaling.frequencies(base: 1e4, dimensions: 16).frequencies
        let standard = RotaryTable.standardFrequencies(base: 1e4, dimensions: 16)
        XCTAssertEqual(theta.indices.map { theta[$0] / standard[$0] }.filter { $0 > 1.0 / 8 && $0 < 1 }.count, 1, "one smoothed pair at d=16")
        checkTiledEqualsNaive(scaling) { _, pairing, i, j, q, k in
            NaiveAttention.rotatedDot(q, k, queryPosition: Double(i), keyPosition: Double(j), inverseFrequencies: theta, pairing: pairing)
        }
    }

    /// base'(n) for the tiny dynamic tests: d = 16, base 1e4, f = 8, L0 = 8.
    static func tinyBase(_ n: Int) -> Double {
        RopeScaling.dynamicNTKBase(base: 1e4, dimensions: 16, factor: 8, originalContext: 8, sequenceLength: n)
    }

    func testTiledDynamicNTKEqualsNaiveWithEachPositionsOwnBase() {
        // Prompt lengths: the whole sequence (prefill), one in the middle (later rows are decode-like), one below L0.
        checkTiledEqualsNaive(.dynamicNTK(factor: 8, originalContext: 8), promptLengths: { [$0, 20, 5] }) { P, pairing, i, j, q, k in
            // §C.3 with transformers' post-RoPE cache: position p was rotated with base'(max(P, p + 1)).
            let qi = rotated(q, position: i, frequencies: RotaryTable.standardFrequencies(base: Self.tinyBase(max(P, i + 1)), dimensions: 16), pairing: pairing)
            let kj = rotated(k, position: j, frequencies: RotaryTable.standardFrequencies(base: Self.tinyBase(max(P, j + 1)), dimensions: 16), pairing: pairing)
            return zip(qi, kj).map(*).reduce(0, +)
        }
    }

    func testTiledConsistentNTKEqualsNaiveWithOneBasePerQueryRow() {
        checkTiledEqualsNaive(.consistentNTK(factor: 8, originalContext: 8), promptLengths: { [$0, 20, 5] }) { P, pairing, i, j, q, k in
            // §C.4: the call computing row i rotates the query and all keys with base'(kv_len), kv_len = max(P, i + 1).
            let theta = RotaryTable.standardFrequencies(base: Self.tinyBase(max(P, i + 1)), dimensions: 16)
            return NaiveAttention.rotatedDot(q, k, queryPosition: Double(i), keyPosition: Double(j), inverseFrequencies: theta, pairing: pairing)
        }
    }

    func testDynamicNTKBaseFollowsEpochsAndConsistentNTKVariantsFollowQueryRows() {
        let dynamic = DynamicNTK(base: 1e4, dimensions: 16, pairing: .halves, factor: 8, originalContext: 8, promptLength: 20)
        XCTAssertEqual(dynamic.base(at: 0), Self.tinyBase(20))
        XCTAssertEqual(dynamic.base(at: 19), Self.tinyBase(20))
        XCTAssertEqual(dynamic.base(at: 20), Self.tinyBase(21))
        XCTAssertEqual(dynamic.base(at: 30), Self.tinyBase(31))
        let consistent = ConsistentNTK(base: 1e4, dimensions: 16, pairing: .halves, factor: 8, originalContext: 8, promptLength: 20)
        XCTAssertEqual(consistent.variants(queries: 0...19, keys: 0...19), [20], "prefill uses one base")
        XCTAssertEqual(consistent.variants(queries: 20...20, keys: 0...20), [21], "decode step")
        XCTAssertEqual(consistent.variants(queries: 16...23, keys: 22...23), [23, 24], "rows before the first key have no pairs")
        XCTAssertEqual(consistent.keyClass(of: 21), 21)
        let short = ConsistentNTK(base: 1e4, dimensions: 16, pairing: .halves, factor: 8, originalContext: 8, promptLength: 3)
        XCTAssertEqual(short.keyClass(of: 5), 8, "kv_len <= L0 all share the plain base")
    }

    // MARK: Decode consistency (docs/methods.md §F.5)

    /// Row n of: a prompt of n tokens then one decode step (one scheme, promptLength n), versus a prefill of n + 1
    /// (promptLength n + 1). Returns max |diff| / max |prefill row|.
    func decodeVersusPrefill(_ scaling: RopeScaling, n: Int, pairing: RotaryPairing = .halves) -> Double {
        let heads = 4, kvHeads = 2, d = 16
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        var rng = SplitMix(seed: UInt64(1000 + n))
        let q = (0..<((n + 1) * heads * d)).map { _ in rng.nextFloat() * 2 - 1 }
        let k = (0..<((n + 1) * kvHeads * d)).map { _ in (rng.nextFloat() * 2 - 1) * 3 }
        let v = (0..<((n + 1) * kvHeads * d)).map { _ in rng.nextFloat() * 2 - 1 }
        let positions = (0..<Int32(n + 1)).map { $0 }
        let scale = 1 / Float(d).squareRoot()

        let stepwise = scaling.scheme(base: 1e4, dimensions: d, pairing: pairing, promptLength: n)
        var promptOut = [Float](repeating: 0, count: n * heads * d)
        TiledAttention.attend(queries: q, queryPositions: Array(positions[0..<n]), keys: k, values: v,
                              keyPositions: Array(positions[0..<n]), shape: shape, scheme: stepwise, scale: scale, window: nil,
                              output: &promptOut, queryBlock: 8, keyBlock: 16)
        var decodeOut = [Float](repeating: 0, count: heads * d)
        TiledAttention.attend(queries: Array(q[(n * heads * d)...]), queryPositions: [Int32(n)], keys: k, values: v,
                              keyPositions: positions, shape: shape, scheme: stepwise, scale: scale, window: nil,
                              output: &decodeOut, queryBlock: 8, keyBlock: 16)

        let prefill = scaling.scheme(base: 1e4, dimensions: d, pairing: pairing, promptLength: n + 1)
        var prefillOut = [Float](repeating: 0, count: (n + 1) * heads * d)
        TiledAttention.attend(queries: q, queryPositions: positions, keys: k, values: v, keyPositions: positions,
                              shape: shape, scheme: prefill, scale: scale, window: nil, output: &prefillOut,
                              queryBlock: 8, keyBlock: 16)
        let row = Array(prefillOut[(n * heads * d)...])
        return zip(decodeOut, row).map { abs(Double($0) - Double($1)) }.max()! / row.map { abs(Double($0)) }.max()!
    }

    func testDecodeStepEqualsPrefillForStaticAndConsistentSchemes() {
        let schemes: [RopeScaling] = [
            .linear(factor: 4), .ntk(factor: 4),
            .yarn(factor: 4, originalContext: 256, betaFast: 32, betaSlow: 1, attentionFactor: nil),
            .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 256),
            .consistentNTK(factor: 8, originalContext: 8),
        ]
        for scaling in schemes {
            for n in [5, 8, 12, 37] {
                for pairing in [RotaryPairing.halves, .adjacent] {
                    XCTAssertLessThan(decodeVersusPrefill(scaling, n: n, pairing: pairing), 1e-5, "\(scaling.name) n=\(n) \(pairing)")
                }
            }
        }
    }

    func testDynamicNTKDecodeDiffersFromPrefillPastTrainedContextAsInTransformers() {
        let scaling = RopeScaling.dynamicNTK(factor: 8, originalContext: 8)
        // n + 1 <= L0: every position uses the plain base either way.
        for n in [3, 7] { XCTAssertLessThan(decodeVersusPrefill(scaling, n: n), 1e-5, "n=\(n)") }
        // n + 1 > L0: the prompt's keys keep base'(max(n, L0)), the prefill uses base'(n + 1) for all (§C.3, §C.4).
        for n in [8, 12, 37] {
            for pairing in [RotaryPairing.halves, .adjacent] {
                XCTAssertGreaterThan(decodeVersusPrefill(scaling, n: n, pairing: pairing), 1e-3, "n=\(n) \(pairing)")
            }
        }
    }

    // MARK: Validation

    func testValidationRejectsBadParametersWithTheirNames() {
        func parameter(_ scaling: RopeScaling) -> String? {
            do { try scaling.validate(); return nil } catch let RopeScalingError.invalidParameter(_, parameter, _, _) {
                return parameter
            } catch { return "unexpected \(error)" }
        }
        XCTAssertEqual(parameter(.linear(factor: 0)), "factor")
        XCTAssertEqual(parameter(.linear(factor: -2)), "factor")
        XCTAssertEqual(parameter(.ntk(factor: .nan)), "factor")
        XCTAssertEqual(parameter(.dynamicNTK(factor: .infinity, originalContext: 4096)), "factor")
        XCTAssertEqual(parameter(.dynamicNTK(factor: 2, originalContext: 0)), "originalContext")
        XCTAssertEqual(parameter(.consistentNTK(factor: 2, originalContext: -1)), "originalContext")
        XCTAssertEqual(parameter(.yarn(factor: 4, originalContext: 4096, betaFast: 1, betaSlow: 32, attentionFactor: nil)), "betaFast")
        XCTAssertEqual(parameter(.yarn(factor: 4, originalContext: 4096, betaFast: 32, betaSlow: 0, attentionFactor: nil)), "betaSlow")
        XCTAssertEqual(parameter(.yarn(factor: 4, originalContext: 4096, betaFast: 32, betaSlow: 1, attentionFactor: 0)), "attentionFactor")
        XCTAssertEqual(parameter(.llama3(factor: 8, lowFrequencyFactor: 4, highFrequencyFactor: 1, originalContext: 8192)), "highFrequencyFactor")
        XCTAssertEqual(parameter(.llama3(factor: 8, lowFrequencyFactor: 0, highFrequencyFactor: 4, originalContext: 8192)), "lowFrequencyFactor")
        XCTAssertEqual(parameter(.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 0)), "originalContext")
        XCTAssertNil(parameter(.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192)))
        XCTAssertNil(parameter(.yarn(factor: 4, originalContext: 4096, betaFast: 32, betaSlow: 1, attentionFactor: nil)))
        let message = "\(RopeScalingError.invalidParameter(scaling: "yarn", parameter: "betaFast", value: "1.0", allowed: "use a number > betaSlow"))"
        XCTAssertTrue(message.contains("betaFast = 1.0") && message.contains("> betaSlow"), message)
    }
}

/// R(p) x in Double with the given frequencies and pairing.
func rotated(_ x: ArraySlice<Float>, position p: Int, frequencies: [Double], pairing: RotaryPairing) -> [Double] {
    let x = x.map(Double.init), half = x.count / 2
    var out = x
    for m in 0..<half {
        let (a, b) = pairing == .halves ? (m, m + half) : (2 * m, 2 * m + 1)
        let angle = Double(p) * frequencies[m]
        out[a] = x[a] * cos(angle) - x[b] * sin(angle)
        out[b] = x[a] * sin(angle) + x[b] * cos(angle)
    }
    return out
}
