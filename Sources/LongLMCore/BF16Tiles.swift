import CLongLMKernels

/// How the attention multiplies tiles of more than a few query rows (prefill): f32 sgemm on f32 operands (the
/// exact precision, and CPUs without AVX-512 BF16), or BF16 tiles: queries, keys, probabilities and values
/// rounded to bfloat16, products summed in f32 (`vdpbf16ps`). Tiles of a few rows (decode) always run the
/// f32 few-row kernels. docs/kernels.md, "BF16 attention tiles".
public enum AttentionTiles: Equatable, Sendable, CustomStringConvertible {
    case f32
    case bf16(BF16Variant)

    public var description: String {
        switch self {
        case .f32: return "f32"
        case .bf16(let variant): return "bf16 (\(variant))"
        }
    }

    /// What a run uses by default: BF16 tiles in the fast precision on a CPU with AVX-512 BF16 whose kernel
    /// variant is the AVX-512 one (forcing `--kernels avx2` or `portable` turns them off too), f32 otherwise.
    public static func automatic(precision: Precision, kernels: KernelVariant, cpu: CPUFeatures = .current) -> AttentionTiles {
        precision == .fast && kernels == .avx512vnni && BF16Variant.avx512bf16.isSupported(by: cpu)
            ? .bf16(.avx512bf16) : .f32
    }
}

/// The code that runs the BF16 tiles.
public enum BF16Variant: String, CaseIterable, Sendable, CustomStringConvertible {
    /// `vdpbf16ps` and `vcvtne2ps2bf16` on 512-bit registers.
    case avx512bf16
    /// Plain C with the same arithmetic in the same order: the reference (slow; for tests).
    case portable

    public var description: String { rawValue }

    public func isSupported(by cpu: CPUFeatures) -> Bool {
        guard longlm_bf16_compiled(cVariant) != 0 else { return false }
        switch self {
        case .avx512bf16: return cpu.hasAVX512Core && cpu.has(.avx512bf16)
        case .portable: return true
        }
    }

    /// The variants this node runs (what the tests compare with `.portable`).
    public static var supportedHere: [BF16Variant] { allCases.filter { $0.isSupported(by: .current) } }

    var cVariant: longlm_bf16_variant { self == .avx512bf16 ? LONGLM_BF16_AVX512 : LONGLM_BF16_PORTABLE }

    /// Runs the peak probe (`vdpbf16ps` on registers only) and returns the multiply-adds it did, or nil where the
    /// variant has no probe.
    public func peakProbe(iterations: Int) -> Int? {
        var checksum: UInt64 = 0
        guard longlm_bf16_peak_probe(cVariant, Int64(iterations), &checksum) == 0 else { return nil }
        withExtendedLifetime(checksum) {}
        return iterations * Int(longlm_bf16_peak_multiply_adds_per_iteration())
    }
}

/// The BF16 tiles' operations (CLongLMKernels, attention_bf16.c). Pairs are two bfloat16 values in one UInt32,
/// the first in the low half.
public enum BF16Tiles {
    /// x[0 ..< count] as ceil(count / 2) pairs (nearest even, subnormals to zero; odd counts padded with 0).
    public static func roundPairs(_ x: UnsafePointer<Float>, count: Int, into pairs: UnsafeMutablePointer<UInt32>,
                                  variant: BF16Variant) {
        let status = longlm_bf16_round_pairs(variant.cVariant, x, Int64(count), pairs)
        precondition(status == 0, "bf16 rounding with \(variant)")
    }

    /// The softmax step of a tile in BF16 (`longlm_bf16_softmax_pairs`): `rows` rows of `count` scores become
    /// probabilities rounded to bfloat16 pairs (`pairStride` words a row), and the rows' running maxima, sums and
    /// accumulators (`headDim` floats a row) are updated.
    public static func softmaxPairs(scores: UnsafePointer<Float>, rows: Int, count: Int,
                                    maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                                    into pairs: UnsafeMutablePointer<UInt32>, pairStride: Int,
                                    accumulator: UnsafeMutablePointer<Float>, headDim: Int, variant: BF16Variant) {
        let status = longlm_bf16_softmax_pairs(variant.cVariant, scores, Int32(rows), Int64(count), maxima, sums, pairs,
                                               Int64(pairStride), accumulator, Int32(headDim))
        precondition(status == 0, "bf16 softmax: \(rows) rows of \(count) with \(variant)")
    }

    /// UInt32 words of the key panel of `count` keys of `headDim` values.
    public static func keyPanelWords(count: Int, headDim: Int) -> Int {
        Int(longlm_bf16_key_panel_words(Int64(count), Int32(headDim)))
    }

    /// Lays out `count` keys stored as `type` (f32, f16 or bf16), `stride` values apart, as a key panel.
    public static func keyPanel(keys: UnsafeRawPointer, type: KVType, stride: Int, count: Int, headDim: Int,
                                into panel: UnsafeMutablePointer<UInt32>) {
        precondition(type != .q8_0, "key panels read f32, f16 or bf16 keys")
        longlm_bf16_key_panel(type.cType, keys, Int64(stride), Int64(count), Int32(headDim), panel)
    }

    /// UInt32 words of the value panel of `count` values of `headDim` dimensions.
    public static func valuePanelWords(count: Int, headDim: Int) -> Int {
        Int(longlm_bf16_value_panel_words(Int64(count), Int32(headDim)))
    }

    /// Lays out `count` value rows stored as `type` (f32, f16 or bf16), `stride` values apart, as a value panel.
    public static func valuePanel(values: UnsafeRawPointer, type: KVType, stride: Int, count: Int, headDim: Int,
                                  into panel: UnsafeMutablePointer<UInt32>) {
        precondition(type != .q8_0, "value panels read f32, f16 or bf16 values")
        longlm_bf16_value_panel(type.cType, values, Int64(stride), Int64(count), Int32(headDim), panel)
    }

    /// scores[r * ldc + c] = query row r (headDim / 2 pairs) . key c of the panel, r < rows, c < count.
    public static func scores(queryPairs: UnsafePointer<UInt32>, rows: Int, headDim: Int, keyPanel: UnsafePointer<UInt32>,
                              count: Int, into scores: UnsafeMutablePointer<Float>, ldc: Int, variant: BF16Variant) {
        let status = longlm_bf16_scores(variant.cVariant, queryPairs, Int32(rows), Int32(headDim), keyPanel, Int64(count),
                                        scores, Int64(ldc))
        precondition(status == 0, "bf16 scores: head dim \(headDim) with \(variant)")
    }

    /// accumulator[r * headDim + i] += probability row r (pairs, `pairStride` apart) . the panel's values, over
    /// its `count` keys; headDim a multiple of 16.
    public static func accumulate(probabilityPairs: UnsafePointer<UInt32>, rows: Int, count: Int, pairStride: Int,
                                  valuePanel: UnsafePointer<UInt32>, headDim: Int,
                                  into accumulator: UnsafeMutablePointer<Float>, variant: BF16Variant) {
        let status = longlm_bf16_accumulate(variant.cVariant, probabilityPairs, Int32(rows), Int64(count), Int64(pairStride),
                                            valuePanel, Int32(headDim), accumulator)
        precondition(status == 0, "bf16 values: head dim \(headDim) with \(variant)")
    }

    /// Whether heads of `headDim` values can run in BF16 tiles (the value tiles take 16 dimensions at a time).
    public static func takes(headDim: Int) -> Bool { headDim % 16 == 0 }
}
