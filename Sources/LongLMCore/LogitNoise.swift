import CLongLMKernels

/// GALI's logit noise generator (C, CLongLMKernels/gali_noise.c; docs/gali.md, "The noise generator"): standard
/// normal draws keyed by (seed, layer, head, N, i, j), computed in f32 with the generator's own logarithm and
/// cosine, so every kernel variant, and every split of rows and keys, gives the same bits.
public enum LogitNoise {
    /// Which keys of a row get noise, and how much: std = (i - j) * stdPerDistance + stdConstant on causal keys,
    /// only at fractional prefix positions (j < prefixLength, j mod groupSize != 0) when `fractionalOnly`.
    public struct Row {
        public var rowKey: UInt64
        public var query: Int
        public var prefixLength: Int
        public var groupSize: Int
        public var fractionalOnly: Bool
        public var stdPerDistance: Float
        public var stdConstant: Float

        public init(rowKey: UInt64, query: Int, prefixLength: Int, groupSize: Int, fractionalOnly: Bool,
                    stdPerDistance: Float, stdConstant: Float) {
            self.rowKey = rowKey
            self.query = query
            self.prefixLength = prefixLength
            self.groupSize = groupSize
            self.fractionalOnly = fractionalOnly
            self.stdPerDistance = stdPerDistance
            self.stdConstant = stdConstant
        }
    }

    /// The key of one attention row's draws.
    public static func rowKey(seed: UInt64, layer: Int, head: Int, contextLength: Int, query: Int) -> UInt64 {
        longlm_gali_noise_row_key(seed, Int64(layer), Int64(head), Int64(contextLength), Int64(query))
    }

    /// The draw for logit (row, key).
    public static func standardNormal(rowKey: UInt64, key: Int) -> Float {
        longlm_gali_standard_normal(rowKey, Int64(key))
    }

    /// Box-Muller on 24 radius bits and 24 angle bits (the generator's arithmetic, exposed for its accuracy test).
    public static func boxMuller(radiusBits: UInt32, angleBits: UInt32) -> Float {
        longlm_gali_box_muller(radiusBits, angleBits)
    }

    /// Adds the noise of `row` to `count` logits whose keys sit at `keyPositions`.
    public static func add(to logits: UnsafeMutablePointer<Float>, keyPositions: UnsafePointer<Int32>, count: Int,
                           row: Row, variant: KernelVariant = Compute.kernels) {
        let status = longlm_gali_add_noise(variant.cVariant, logits, keyPositions, Int64(count), row.rowKey,
                                           Int64(row.query), Int64(row.prefixLength), Int64(row.groupSize),
                                           row.fractionalOnly ? 1 : 0, row.stdPerDistance, row.stdConstant)
        precondition(status == 0, "GALI noise: group size \(row.groupSize) with \(variant)")
    }
}
