import XCTest
@testable import LongLMAttention

/// Fixtures: docs/gali.md §1.1, §1.3 and §8 (hand-derived from adlnlp/Gali @ 5a3e947,
/// `models/DPI/help_funcs.py` `get_chunk_size_list` / `construct_new_pi`, `patches/Llama.py`
/// `attention_score_approximate`). The references below are written from that note's prose, not from GALI.swift.
final class GALITests: XCTestCase {
    typealias Fraction = (numerator: Int, denominator: Int)

    // MARK: Independent references

    /// "0", "7/3" → a fraction.
    func fraction(_ text: Substring) -> Fraction {
        let parts = text.split(separator: "/")
        return parts.count == 1 ? (Int(parts[0])!, 1) : (Int(parts[0])!, Int(parts[1])!)
    }
    func fractions(_ text: String) -> [Fraction] { text.split(separator: " ").filter { $0 != "|" }.map(fraction) }
    func same(_ a: Fraction, _ b: Fraction) -> Bool { a.numerator * b.denominator == b.numerator * a.denominator }
    func value(_ a: Fraction) -> Double { Double(a.numerator) / Double(a.denominator) }

    /// §1.3 in words: the smallest g whose g-fold subdivision of the T - W non-window intervals fits N tokens;
    /// then subdivide intervals 0, 1, 2, ... one at a time until T - k + k g >= N; keep the first N - (T - k)
    /// slots and the integer tail k ... T-1.
    func greedyPositions(N: Int, T: Int, W: Int) -> [Fraction] {
        if N <= T { return (0..<N).map { ($0, 1) } }
        var g = 1
        while g * (T - W) + W < N { g += 1 }
        var k = 0
        while T - k + k * g < N { k += 1 }
        var slots: [Fraction] = []
        for m in 0..<k { for s in 0..<g { slots.append((m * g + s, g)) } }
        return Array(slots.prefix(N - (T - k))) + (k..<T).map { ($0, 1) }
    }

    /// §5.1 per-row context length, from the chunk schedule.
    func rowContextLength(_ i: Int, T: Int, L: Int, chunk: GALIChunk) -> Int {
        if i < T { return T }
        if i >= L { return i + 1 }
        var end = 0
        for c in GALI.chunkSizes(promptLength: L, trainedContext: T, chunk: chunk) {
            end += c
            if i < end { return end }
        }
        fatalError("row \(i) beyond the schedule")
    }

    /// §2.1: A at (ceil p_i, ceil p_j), B at (ceil p_i, floor p_j), rho = (ceil p_i - p_j) mod 1, logit = A - (A - B) rho.
    /// `referenceBF16` forces rho = 0. Unscaled (no 1/sqrt(d)).
    func specLogit(i: Int, j: Int, q: ArraySlice<Float>, k: ArraySlice<Float>, positions p: [Fraction],
                   frequencies: [Double], pairing: RotaryPairing, bf16: Bool = false) -> Double {
        let ci = (p[i].numerator + p[i].denominator - 1) / p[i].denominator
        let (a, b) = p[j]
        let floorJ = a / b, ceilJ = (a + b - 1) / b
        let rho = bf16 ? 0 : Double(((ci * b - a) % b + b) % b) / Double(b)
        let A = NaiveAttention.rotatedDot(q, k, queryPosition: Double(ci), keyPosition: Double(ceilJ),
                                          inverseFrequencies: frequencies, pairing: pairing)
        let B = NaiveAttention.rotatedDot(q, k, queryPosition: Double(ci), keyPosition: Double(floorJ),
                                          inverseFrequencies: frequencies, pairing: pairing)
        return A - (A - B) * rho
    }

    func worked(mode: GALIMode = .interpolated, noise: GALINoise = .none, chunk: GALIChunk = .size(4)) -> GALI {
        try! GALI(trainedContext: 8, localWindow: 2, chunk: chunk, promptLength: 20, mode: mode, noise: noise,
                  table: standardTable(d: 8))
    }

    func mapPositions(_ m: GALIPositionMap) -> [Fraction] { (0..<m.contextLength).map { m.position($0) } }

    func assertPositions(_ m: GALIPositionMap, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let got = mapPositions(m), want = fractions(expected)
        XCTAssertEqual(got.count, want.count, "N=\(m.contextLength)", file: file, line: line)
        for (j, (a, b)) in zip(got, want).enumerated() {
            XCTAssertTrue(same(a, b), "N=\(m.contextLength) j=\(j): \(a) vs \(b)", file: file, line: line)
        }
    }

    // MARK: Chunk schedule (§1.1)

    func testGALIChunkSchedulesMatchSpecExamples() {
        XCTAssertEqual(GALI.chunkSizes(promptLength: 20, trainedContext: 8, chunk: .size(4)), [8, 4, 4, 4])
        XCTAssertEqual(GALI.chunkSizes(promptLength: 20, trainedContext: 8, chunk: .ratio(0.5)), [8, 4, 6, 2])
        XCTAssertEqual(GALI.chunkSizes(promptLength: 20, trainedContext: 8, chunk: .size(3000)), [8, 12])
        XCTAssertEqual(GALI.chunkSizes(promptLength: 16384, trainedContext: 4096, chunk: .size(3000)),
                       [4096, 3000, 3000, 3000, 3000, 288])
        XCTAssertEqual(GALI.chunkSizes(promptLength: 6, trainedContext: 8, chunk: .size(4)), [6])
        XCTAssertEqual(GALIChunk("3000"), .size(3000))
        XCTAssertEqual(GALIChunk("0.5"), .ratio(0.5))
        XCTAssertEqual(GALIChunk("3000.0"), .ratio(3000), "Python reads a float chunk_coe as a ratio")
        XCTAssertNil(GALIChunk("big"))
    }

    // MARK: Position map (§1.3, §8)

    func testGALIWorkedExampleStepsOneToThree() {
        let s = worked()
        assertPositions(s.positionMap(contextLength: 8), "0 1 2 3 4 5 6 7")
        let m1 = s.positionMap(contextLength: 12)
        XCTAssertTrue((m1.groupSize, m1.splitPositions, m1.prefixLength) == (2, 4, 8))
        assertPositions(m1, "0 1/2 1 3/2 2 5/2 3 7/2 | 4 5 6 7")
        let m2 = s.positionMap(contextLength: 16)
        XCTAssertTrue((m2.groupSize, m2.splitPositions, m2.prefixLength) == (3, 4, 12))
        assertPositions(m2, "0 1/3 2/3 1 4/3 5/3 2 7/3 8/3 3 10/3 11/3 | 4 5 6 7")
        let m3 = s.positionMap(contextLength: 20)
        XCTAssertTrue((m3.groupSize, m3.splitPositions, m3.prefixLength) == (3, 6, 18))
        assertPositions(m3, "0 1/3 2/3 1 4/3 5/3 2 7/3 8/3 3 10/3 11/3 4 13/3 14/3 5 16/3 17/3 | 6 7")
    }

    func testGALIQueryPositionsAreCeilOfTheirRowMap() {
        let s = worked()
        XCTAssertEqual((0..<8).map { s.queryPosition($0, contextLength: s.contextLength(ofRow: $0)) }, Array(0..<8))
        XCTAssertEqual((8..<12).map { s.queryPosition($0, contextLength: s.contextLength(ofRow: $0)) }, [4, 5, 6, 7])
        XCTAssertEqual((12..<16).map { s.queryPosition($0, contextLength: s.contextLength(ofRow: $0)) }, [4, 5, 6, 7])
        XCTAssertEqual((16..<20).map { s.queryPosition($0, contextLength: s.contextLength(ofRow: $0)) }, [6, 6, 6, 7])
        // Decode: the new token is always at T - 1.
        XCTAssertEqual((20..<30).map { s.queryPosition($0, contextLength: s.contextLength(ofRow: $0)) },
                       Array(repeating: 7, count: 10))
    }

    func testGALIKeyTableFloorCeilRhoAtN20() {
        let m = worked().positionMap(contextLength: 20)
        for j in 0..<20 {
            let expected: (Int, Int, Fraction)
            switch (j, j % 3) {
            case (18, _): expected = (6, 6, (0, 1))
            case (19, _): expected = (7, 7, (0, 1))
            case (_, 0): expected = (j / 3, j / 3, (0, 1))
            case (_, 1): expected = (j / 3, j / 3 + 1, (2, 3))
            default: expected = (j / 3, j / 3 + 1, (1, 3))
            }
            XCTAssertEqual(m.floor(j), expected.0, "j=\(j)")
            XCTAssertEqual(m.ceil(j), expected.1, "j=\(j)")
            XCTAssertTrue(same(m.rho(j), expected.2), "j=\(j): \(m.rho(j))")
            XCTAssertEqual(m.isFractional(j), expected.2.numerator != 0, "j=\(j)")
        }
    }

    func testGALIFractionalRelativeDistancesRows16To19() {
        let s = worked()
        let m = s.positionMap(contextLength: 20)
        let row16: [Double] = [6, 5.67, 5.33, 5, 4.67, 4.33, 4, 3.67, 3.33, 3, 2.67, 2.33, 2, 1.67, 1.33, 1, 0.67]
        let rows: [Int: [Double]] = [16: row16, 17: row16 + [0.33], 18: row16 + [0.33, 0],
                                     19: [7, 6.67, 6.33, 6, 5.67, 5.33, 5, 4.67, 4.33, 4, 3.67, 3.33, 3, 2.67, 2.33, 2,
                                          1.67, 1.33, 1, 0]]
        for (i, expected) in rows {
            XCTAssertEqual(s.contextLength(ofRow: i), 20)
            let c = s.queryPosition(i, contextLength: 20)
            let r = (0...i).map { Double(c) - value(m.position($0)) }
            XCTAssertEqual(r.count, expected.count, "row \(i)")
            for (j, (a, b)) in zip(r, expected).enumerated() { XCTAssertEqual(a, b, accuracy: 0.005, "row \(i) key \(j)") }
        }
    }

    func testGALINoiseStdRow19() {
        let s = worked(noise: .gaussian)
        let expected: [Double] = [0, 0.90, 0.85, 0, 0.75, 0.70, 0, 0.60, 0.55, 0, 0.45, 0.40, 0, 0.30, 0.25, 0, 0.15,
                                  0.10, 0, 0]
        for j in 0..<20 { XCTAssertEqual(s.noiseStandardDeviation(query: 19, key: j), expected[j], accuracy: 1e-12, "j=\(j)") }
        // No noise for rows with N <= T, in .referenceBF16, or with noise off.
        XCTAssertEqual(s.noiseStandardDeviation(query: 7, key: 1), 0)
        XCTAssertEqual(worked(mode: .referenceBF16, noise: .gaussian).noiseStandardDeviation(query: 19, key: 1), 0)
        XCTAssertEqual(worked(noise: .none).noiseStandardDeviation(query: 19, key: 1), 0)
        XCTAssertFalse(worked(mode: .referenceBF16, noise: .gaussian).addsLogitNoise)
        XCTAssertFalse(worked(noise: .none).addsLogitNoise)
        XCTAssertTrue(s.addsLogitNoise)
    }

    func testGALIDecodeContinuationN21To23() {
        let s = worked()
        let m21 = s.positionMap(contextLength: 21), m22 = s.positionMap(contextLength: 22), m23 = s.positionMap(contextLength: 23)
        XCTAssertTrue((m21.groupSize, m21.splitPositions, m21.prefixLength) == (4, 5, 18))
        XCTAssertTrue((m22.groupSize, m22.splitPositions, m22.prefixLength) == (4, 5, 19))
        XCTAssertTrue((m23.groupSize, m23.splitPositions, m23.prefixLength) == (4, 5, 20))
        let quarters = (0..<20).map { "\($0)/4" }
        assertPositions(m21, quarters.prefix(18).joined(separator: " ") + " | 5 6 7")
        assertPositions(m22, quarters.prefix(19).joined(separator: " ") + " | 5 6 7")
        assertPositions(m23, quarters.prefix(20).joined(separator: " ") + " | 5 6 7")
        XCTAssertEqual(value(m21.position(17)), 4.25)
        XCTAssertEqual(value(m22.position(18)), 4.5)
        XCTAssertEqual(value(m23.position(19)), 4.75)
        // §3: the first step past T is [0, 0.5, 1, 2, ..., T-1].
        assertPositions(s.positionMap(contextLength: 9), "0 1/2 1 2 3 4 5 6 7")
    }

    func testGALIFloatChunkVariant() {
        let s = worked(chunk: .ratio(0.5))
        XCTAssertEqual(s.chunkEnds, [8, 12, 18, 20])
        let pairs = [12, 18, 20].map { s.positionMap(contextLength: $0) }.map { [$0.groupSize, $0.splitPositions] }
        XCTAssertEqual(pairs, [[2, 4], [3, 5], [3, 6]])
        assertPositions(s.positionMap(contextLength: 18), (0..<15).map { "\($0)/3" }.joined(separator: " ") + " | 5 6 7")
        XCTAssertEqual(value(s.positionMap(contextLength: 18).position(14)), 14.0 / 3)
        XCTAssertEqual((12..<18).map(s.contextLength(ofRow:)), Array(repeating: 18, count: 6))
    }

    func testGALIPerRowContextLength() {
        let s = worked()
        XCTAssertEqual((0..<8).map(s.contextLength(ofRow:)), Array(repeating: 8, count: 8))
        XCTAssertEqual((8..<12).map(s.contextLength(ofRow:)), Array(repeating: 12, count: 4))
        XCTAssertEqual((12..<16).map(s.contextLength(ofRow:)), Array(repeating: 16, count: 4))
        XCTAssertEqual((16..<20).map(s.contextLength(ofRow:)), Array(repeating: 20, count: 4))
        XCTAssertEqual([20, 21, 25].map(s.contextLength(ofRow:)), [21, 22, 26])
        // A prompt inside the trained window: ordinary attention until decode passes T.
        let short = try! GALI(trainedContext: 8, localWindow: 2, chunk: .size(4), promptLength: 5, table: standardTable(d: 8))
        XCTAssertEqual((0..<11).map(short.contextLength(ofRow:)), [8, 8, 8, 8, 8, 8, 8, 8, 9, 10, 11])
    }

    func testGALIVariantsPerTileAreTheRowContextLengths() {
        let s = worked()
        XCTAssertEqual(s.variants(queries: 0...19, keys: 0...19), [8, 12, 16, 20])
        XCTAssertEqual(s.variants(queries: 6...9, keys: 0...9), [8, 12])
        XCTAssertEqual(s.variants(queries: 10...17, keys: 0...5), [12, 16, 20])
        XCTAssertEqual(s.variants(queries: 16...19, keys: 18...19), [20], "rows 16, 17 see no key of this tile")
        XCTAssertEqual(s.variants(queries: 19...22, keys: 0...22), [20, 21, 22, 23])
        XCTAssertEqual(s.keyClass(of: 16), 16)
        XCTAssertNil(GALI.maximumLength(trainedContext: 8, localWindow: 2))
    }

    func testGALIRealisticGroupSizesAndSplitPositions() {
        // §1.3, per prefill chunk end N: (g, i*).
        let cases: [(T: Int, W: Int, L: Int, ends: [Int], expected: [[Int]])] = [
            (4096, 128, 16384, [7096, 10096, 13096, 16096, 16384], [[2, 3000], [3, 3000], [4, 3000], [5, 3000], [5, 3072]]),
            (4096, 1, 16384, [7096, 10096, 13096, 16096, 16384], [[2, 3000], [3, 3000], [4, 3000], [4, 4000], [5, 3072]]),
            (8192, 128, 32768, [11192, 14192, 17192, 20192, 23192, 26192, 29192, 32192, 32768],
             [[2, 3000], [2, 6000], [3, 4500], [3, 6000], [3, 7500], [4, 6000], [4, 7000], [4, 8000], [5, 6144]]),
        ]
        for c in cases {
            let s = try! GALI(trainedContext: c.T, localWindow: c.W, chunk: .size(3000), promptLength: c.L,
                              table: standardTable(d: 8))
            XCTAssertEqual(Array(s.chunkEnds.dropFirst()), c.ends, "T=\(c.T) W=\(c.W)")
            XCTAssertEqual(c.ends.map { s.positionMap(contextLength: $0) }.map { [$0.groupSize, $0.splitPositions] },
                           c.expected, "T=\(c.T) W=\(c.W)")
        }
    }

    func testGALIPositionMapPropertiesAndGreedyDefinition() {
        for T in [2, 3, 5, 8, 16, 64] {
            for W in Set([1, 2, T / 4, T / 2, T - 1]) where W >= 1 && W < T {
                for N in 1...(12 * T) {
                    let m = GALIPositionMap(contextLength: N, trainedContext: T, localWindow: W)
                    let p = mapPositions(m), reference = greedyPositions(N: N, T: T, W: W)
                    let tag = "N=\(N) T=\(T) W=\(W)"
                    XCTAssertEqual(p.count, reference.count, tag)
                    XCTAssertTrue(zip(p, reference).allSatisfy { same($0.0, $0.1) }, "closed form = greedy loop, " + tag)
                    XCTAssertTrue(zip(p, p.dropFirst()).allSatisfy { value($0.0) < value($0.1) }, "strictly increasing, " + tag)
                    XCTAssertTrue(same(p.last!, (min(N, T) - 1, 1)), "last token at T-1, " + tag)
                    if N > T {
                        let g = m.groupSize
                        XCTAssertGreaterThanOrEqual(T - m.splitPositions, W, "tail >= W, " + tag)
                        XCTAssertTrue((g - 1) * (T - W) + W < N && N <= g * (T - W) + W, "g smallest, " + tag)
                        XCTAssertTrue(p.prefix(m.prefixLength).allSatisfy { value($0) < Double(m.splitPositions) }, tag)
                    }
                    let consistent = (0..<N).allSatisfy { j in
                        m.floor(j) <= m.ceil(j) && m.ceil(j) - m.floor(j) <= 1
                            && same((m.ceil(j) * p[j].denominator - p[j].numerator, p[j].denominator), m.rho(j))
                            && (m.ceil(j) == m.floor(j)) == (m.rho(j).numerator == 0)
                            && same((m.floor(j), 1), (p[j].numerator / p[j].denominator, 1))
                    }
                    XCTAssertTrue(consistent, "floor/ceil/rho agree with p, " + tag)
                }
            }
        }
    }

    // MARK: Attention

    func testGALIInterpolatedKeyEqualsTwoLogitInterpolation() {
        // §2.4 against §2.1, including the worked pair (i=19, j=1) and row 16's self-distance quirk.
        for pairing in [RotaryPairing.halves, .adjacent] {
            let d = 16
            let table = standardTable(d: d, pairing: pairing)
            let s = try! GALI(trainedContext: 8, localWindow: 2, chunk: .size(4), promptLength: 20, noise: .none, table: table)
            s.prepare(maxPosition: 64)
            var rng = SplitMix(seed: 7)
            let q = (0..<d).map { _ in rng.nextFloat() * 2 - 1 }, k = (0..<d).map { _ in (rng.nextFloat() * 2 - 1) * 3 }
            func kernelLogit(_ i: Int, _ j: Int, _ N: Int) -> Double {
                var qr = [Float](repeating: 0, count: d), kt = [Float](repeating: 0, count: d)
                s.rotateQuery(q, position: i, variant: N, scale: 1, into: &qr)
                s.transformKey(k, position: j, keyClass: N, into: &kt)
                return zip(qr, kt).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            }
            for N in [8, 12, 16, 20, 21, 23, 37] {
                let p = greedyPositions(N: N, T: 8, W: 2)
                for i in 0..<N {
                    for j in 0...i {
                        let reference = specLogit(i: i, j: j, q: q[...], k: k[...], positions: p,
                                                  frequencies: table.inverseFrequencies, pairing: pairing)
                        XCTAssertEqual(kernelLogit(i, j, N), reference, accuracy: 2e-5 * 16, "N=\(N) i=\(i) j=\(j)")
                    }
                }
            }
            func S(_ distance: Double) -> Double {
                NaiveAttention.rotatedDot(q[...], k[...], queryPosition: distance, keyPosition: 0,
                                          inverseFrequencies: table.inverseFrequencies, pairing: pairing)
            }
            XCTAssertEqual(kernelLogit(19, 1, 20), S(6) / 3 + 2 * S(7) / 3, accuracy: 1e-4)
            XCTAssertEqual(kernelLogit(16, 16, 20), S(0) / 3 + 2 * S(1) / 3, accuracy: 1e-4)
        }
    }

    func testTiledGALIEqualsNaiveReferenceWithoutNoise() {
        // (T, W, chunk, prompt L, keys S, query rows, query block, key block, pairing)
        let cases: [(Int, Int, GALIChunk, Int, Int, Int, Int, Int, RotaryPairing)] = [
            (16, 3, .size(7), 45, 45, 45, 8, 16, .halves),       // chunks [16,7,7,7,7,1]; blocks divide neither
            (16, 3, .size(7), 45, 45, 45, 5, 7, .halves),        // key block = chunk size
            (16, 3, .size(7), 45, 45, 45, 7, 13, .adjacent),
            (16, 1, .ratio(0.5), 53, 53, 53, 9, 11, .halves),     // chunks [16,8,12,17]
            (16, 5, .size(8), 48, 48, 48, 8, 16, .halves),        // chunk and tiles divide each other
            (16, 3, .size(7), 45, 30, 7, 4, 9, .halves),          // one chunk's rows (23..29) against its N_k = 30 keys
            (16, 3, .size(7), 40, 41, 1, 4, 16, .halves),         // decode row 40, N = 41
            (16, 3, .size(7), 40, 43, 3, 2, 5, .adjacent),        // three decode rows, one variant each
            (8, 2, .size(4), 20, 20, 20, 3, 5, .halves),          // the worked example
        ]
        for (T, W, chunk, L, S, rows, qb, kb, pairing) in cases {
            let table = standardTable(d: 16, pairing: pairing)
            let scheme = try! GALI(trainedContext: T, localWindow: W, chunk: chunk, promptLength: L, noise: .none, table: table)
            var positions: [Int: [Fraction]] = [:]
            let error = tiledVersusNaive(scheme: scheme, T: rows, S: S, queryBlock: qb, keyBlock: kb) { i, j, q, k in
                let N = rowContextLength(i, T: T, L: L, chunk: chunk)
                if positions[N] == nil { positions[N] = greedyPositions(N: N, T: T, W: W) }
                return specLogit(i: i, j: j, q: q, k: k, positions: positions[N]!, frequencies: table.inverseFrequencies,
                                 pairing: pairing)
            }
            XCTAssertLessThan(error, 1e-5, "T=\(T) W=\(W) chunk=\(chunk) L=\(L) S=\(S) rows=\(rows) tiles \(qb)x\(kb)")
        }
    }

    func testTiledGALIReferenceBF16EqualsRopeAtCeilPositions() {
        let (T, W, L) = (16, 3, 45)
        let table = standardTable(d: 16)
        let scheme = try! GALI(trainedContext: T, localWindow: W, chunk: .size(7), promptLength: L, mode: .referenceBF16,
                               noise: .gaussian, table: table)
        XCTAssertFalse(scheme.addsLogitNoise, "rho = 0 leaves the reference's noise mask empty")
        for (qb, kb) in [(8, 16), (5, 7)] {
            let error = tiledVersusNaive(scheme: scheme, T: 45, S: 45, queryBlock: qb, keyBlock: kb) { i, j, q, k in
                // RoPE at ceil(p_i) for the query and ceil(p_j) for the key.
                let p = greedyPositions(N: rowContextLength(i, T: T, L: L, chunk: .size(7)), T: T, W: W)
                let ceiling = { (f: Fraction) in (f.numerator + f.denominator - 1) / f.denominator }
                return NaiveAttention.rotatedDot(q, k, queryPosition: Double(ceiling(p[i])), keyPosition: Double(ceiling(p[j])),
                                                 inverseFrequencies: table.inverseFrequencies, pairing: .halves)
            }
            XCTAssertLessThan(error, 1e-5, "tiles \(qb)x\(kb)")
        }
    }

    /// Tiled kernel against a per-head naive reference that adds the noise of docs/gali.md §2.2 (defaults) drawn
    /// from the same counter-based generator.
    func tiledVersusNaiveWithNoise(_ scheme: GALI, L: Int, S: Int, rows: Int, queryBlock: Int, keyBlock: Int, layer: Int,
                                   heads: Int = 4, kvHeads: Int = 2, d: Int = 16) -> (error: Double, output: [Float]) {
        let T = scheme.trainedContext, W = scheme.localWindow
        var rng = SplitMix(seed: 99 &+ UInt64(S))
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        let q = (0..<(rows * heads * d)).map { _ in rng.nextFloat() * 2 - 1 }
        let k = (0..<(S * kvHeads * d)).map { _ in (rng.nextFloat() * 2 - 1) * 3 }
        let v = (0..<(S * kvHeads * d)).map { _ in rng.nextFloat() * 2 - 1 }
        let keyPositions = (0..<Int32(S)).map { $0 }
        let queryPositions = (0..<Int32(rows)).map { Int32(S - rows) + $0 }
        var out = [Float](repeating: .nan, count: rows * heads * d)
        TiledAttention.attend(queries: q, queryPositions: queryPositions, keys: k, values: v, keyPositions: keyPositions,
                              shape: shape, scheme: scheme, scale: 1 / Float(d).squareRoot(), window: nil, output: &out,
                              layer: layer, queryBlock: queryBlock, keyBlock: keyBlock)
        var reference = [Float](repeating: 0, count: rows * heads * d)
        var positions: [Int: [Fraction]] = [:]
        let one = AttentionShape(heads: 1, kvHeads: 1, headDim: d)
        for h in 0..<heads {
            let g = h / shape.groupSize
            func head(_ x: [Float], _ count: Int, _ stride: Int, _ offset: Int) -> [Float] {
                var out: [Float] = []
                for t in 0..<count { let start = t * stride + offset; out += x[start..<(start + d)] }
                return out
            }
            let qh = head(q, rows, heads * d, h * d)
            let kh = head(k, S, kvHeads * d, g * d), vh = head(v, S, kvHeads * d, g * d)
            let oh = NaiveAttention.attend(queries: qh, queryPositions: queryPositions, keys: kh, values: vh,
                                           keyPositions: keyPositions, shape: one, window: nil) { i, j, qv, kv in
                let N = rowContextLength(i, T: T, L: L, chunk: scheme.chunk)
                if positions[N] == nil { positions[N] = greedyPositions(N: N, T: T, W: W) }
                let p = positions[N]!
                let logit = specLogit(i: i, j: j, q: qv, k: kv, positions: p, frequencies: scheme.table.inverseFrequencies,
                                      pairing: scheme.table.pairing) / Double(d).squareRoot()
                // Noise only when k_len = N > T, only on keys at fractional positions, std = (i - j) / N.
                guard N > T, p[j].numerator % p[j].denominator != 0 else { return logit }
                let eps = GALI.standardNormal(seed: scheme.seed, layer: layer, head: h, contextLength: N, query: i, key: j)
                return logit + eps * Double(i - j) / Double(N)
            }
            for t in 0..<rows { for c in 0..<d { reference[t * heads * d + h * d + c] = oh[t * d + c] } }
        }
        let maxRef = reference.map { abs(Double($0)) }.max()!
        return (zip(out, reference).map { abs(Double($0) - Double($1)) }.max()! / maxRef, out)
    }

    func testTiledGALIWithNoiseEqualsNaiveReferenceWithSameNoise() {
        let table = standardTable(d: 16)
        let noisy = try! GALI(trainedContext: 16, localWindow: 3, chunk: .size(7), promptLength: 45, noise: .gaussian,
                              seed: 1234, table: table)
        var outputs: [[Float]] = []
        for (qb, kb) in [(8, 16), (5, 7), (45, 45)] {
            let (error, out) = tiledVersusNaiveWithNoise(noisy, L: 45, S: 45, rows: 45, queryBlock: qb, keyBlock: kb, layer: 3)
            XCTAssertLessThan(error, 1e-5, "tiles \(qb)x\(kb)")
            outputs.append(out)
        }
        for other in outputs.dropFirst() {
            XCTAssertLessThan(zip(outputs[0], other).map { abs($0 - $1) }.max()!, 1e-5, "tile splits agree")
        }
        // Decode rows and a ratio schedule.
        let ratio = try! GALI(trainedContext: 16, localWindow: 1, chunk: .ratio(0.5), promptLength: 40, noise: .gaussian,
                              seed: 5, table: table)
        XCTAssertLessThan(tiledVersusNaiveWithNoise(ratio, L: 40, S: 43, rows: 11, queryBlock: 4, keyBlock: 9, layer: 0).error, 1e-5)
        // The noise is not a no-op: the same inputs without noise differ.
        let quiet = try! GALI(trainedContext: 16, localWindow: 3, chunk: .size(7), promptLength: 45, noise: .none, seed: 1234,
                              table: table)
        let plain = tiledVersusNaiveWithNoise(quiet, L: 45, S: 45, rows: 45, queryBlock: 8, keyBlock: 16, layer: 3).output
        XCTAssertGreaterThan(zip(outputs[0], plain).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testGALINoiseIsIdenticalForAnySplitOfRowsAndKeys() {
        let s = try! GALI(trainedContext: 16, localWindow: 3, chunk: .size(7), promptLength: 45, noise: .gaussian, seed: 77,
                          table: standardTable(d: 8))
        let n = 50, heads = [0, 1, 2, 5]
        // Reference: every (head, row) at once against all keys in order.
        let rowPositions = heads.flatMap { _ in Array(0..<n) }, rowHeads = heads.flatMap { h in Array(repeating: h, count: n) }
        var full = [Float](repeating: 0, count: rowPositions.count * n)
        let keys = (0..<Int32(n)).map { $0 }
        keys.withUnsafeBufferPointer { kp in
            s.addLogitNoise(&full, rowPositions: rowPositions, rowHeads: rowHeads, keyPositions: kp, layer: 2)
        }
        XCTAssertGreaterThan(full.filter { $0 != 0 }.count, 500)
        // Tiles of another shape, keys in a shuffled order (as a ring rank might hold them).
        var rng = SplitMix(seed: 3)
        let shuffled = keys.shuffled(using: &rng)
        for rowBlock in [1, 7, 13] {
            for keyBlock in [3, 11, 50] {
                for r0 in stride(from: 0, to: rowPositions.count, by: rowBlock) {
                    let r1 = min(rowPositions.count, r0 + rowBlock)
                    for c0 in stride(from: 0, to: n, by: keyBlock) {
                        let tileKeys = Array(shuffled[c0..<min(n, c0 + keyBlock)])
                        var tile = [Float](repeating: 0, count: (r1 - r0) * tileKeys.count)
                        tileKeys.withUnsafeBufferPointer { kp in
                            s.addLogitNoise(&tile, rowPositions: Array(rowPositions[r0..<r1]), rowHeads: Array(rowHeads[r0..<r1]),
                                            keyPositions: kp, layer: 2)
                        }
                        for r in r0..<r1 {
                            for (c, j) in tileKeys.enumerated() {
                                XCTAssertEqual(tile[(r - r0) * tileKeys.count + c].bitPattern, full[r * n + Int(j)].bitPattern)
                            }
                        }
                    }
                }
            }
        }
        // Keyed by layer too.
        var otherLayer = [Float](repeating: 0, count: full.count)
        keys.withUnsafeBufferPointer { kp in
            s.addLogitNoise(&otherLayer, rowPositions: rowPositions, rowHeads: rowHeads, keyPositions: kp, layer: 3)
        }
        XCTAssertNotEqual(full, otherLayer)
    }

    func testGALINoiseGeneratorIsStandardNormal() {
        var sum = 0.0, sumSquares = 0.0, withinOne = 0
        let count = 200_000
        for t in 0..<count {
            let z = GALI.standardNormal(seed: 42, layer: t % 3, head: t % 5, contextLength: 1000, query: t / 400, key: t % 400)
            sum += z; sumSquares += z * z
            if abs(z) < 1 { withinOne += 1 }
        }
        let mean = sum / Double(count), std = (sumSquares / Double(count) - mean * mean).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(std, 1, accuracy: 0.01)
        XCTAssertEqual(Double(withinOne) / Double(count), 0.6827, accuracy: 0.005)
        XCTAssertEqual(GALI.standardNormal(seed: 1, layer: 0, head: 0, contextLength: 20, query: 19, key: 1),
                       GALI.standardNormal(seed: 1, layer: 0, head: 0, contextLength: 20, query: 19, key: 1))
        XCTAssertNotEqual(GALI.standardNormal(seed: 1, layer: 0, head: 0, contextLength: 20, query: 19, key: 1),
                          GALI.standardNormal(seed: 2, layer: 0, head: 0, contextLength: 20, query: 19, key: 1))
    }

    // MARK: Errors

    func testGALIRefusesOutOfRangeWindowAndRowStatisticOptions() {
        let table = standardTable(d: 8)
        for W in [0, -1, 8, 9] {
            XCTAssertThrowsError(try GALI(trainedContext: 8, localWindow: W, promptLength: 20, table: table)) { error in
                XCTAssertEqual(error as? GALIError, .localWindowOutOfRange(window: W, trainedContext: 8))
                XCTAssertTrue("\(error)".contains("1..<8"), "\(error)")
            }
        }
        for chunk in [GALIChunk.size(0), .ratio(0.1), .ratio(-1), .ratio(.nan)] {
            XCTAssertThrowsError(try GALI(trainedContext: 8, localWindow: 2, chunk: chunk, promptLength: 20, table: table)) { error in
                guard case .invalidChunk = error as? GALIError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains("at least one token"), "\(error)")
            }
        }
        for options in [GALIOptions(scaleMean: true), GALIOptions(uniformNoiseScaledByRowMax: true)] {
            XCTAssertThrowsError(try GALI(trainedContext: 8, localWindow: 2, promptLength: 20, options: options, table: table)) { error in
                guard case .needsRowStatistic = error as? GALIError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains("online softmax"), "\(error)")
                XCTAssertTrue("\(error)".contains("§5.5"), "\(error)")
            }
        }
        XCTAssertNoThrow(try GALI(trainedContext: 8, localWindow: 1, promptLength: 20, table: table))
        XCTAssertNoThrow(try GALI(trainedContext: 8, localWindow: 7, promptLength: 20, table: table))
    }
}
