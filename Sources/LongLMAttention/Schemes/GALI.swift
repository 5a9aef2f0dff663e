import Foundation
import LongLMCore

/// Size of the prompt chunks after the first (which is always T tokens), docs/gali.md §1.1. The reference decides
/// by the Python type of `chunk_coe`: an int is a fixed size, a float a ratio of the tokens scheduled so far.
public enum GALIChunk: Sendable, Equatable, Codable, CustomStringConvertible {
    case size(Int)
    case ratio(Double)

    /// Parses a command-line value the way the reference reads its config: "3000" is a size, "0.5" and "3000.0"
    /// are ratios.
    public init?(_ text: String) {
        if let n = Int(text) { self = .size(n) } else if let r = Double(text) { self = .ratio(r) } else { return nil }
    }

    public var description: String {
        switch self {
        case .size(let n): return "\(n)"
        case .ratio(let r): return "ratio \(r)"
        }
    }
}

/// docs/gali.md §2.6: the released code computes rho in bf16, where every fraction vanishes at realistic scale, so
/// its published numbers are `.referenceBF16` (rho = 0: keys at ceil(p_j), no interpolation, no noise).
public enum GALIMode: String, Sendable, Codable {
    /// The paper's intent: logits linearly interpolated between the two neighbouring integer distances.
    case interpolated
    /// What the reference computes in bf16 when every query position is >= 256: rho = 0.
    case referenceBF16
}

public enum GALINoise: String, Sendable, Codable {
    /// noise_type="gaussian" (README default): eps * std on fractional-key logits.
    case gaussian
    /// noise_type="no".
    case none
}

/// The reference's noise parameters (docs/gali.md §2.2, §2.5); defaults are the README's.
public struct GALIOptions: Sendable, Equatable {
    /// std_base.
    public var stdBase: Double = 1
    /// addon_relcoef = 1: noise only on keys at fractional positions; false adds it to every logit of a row
    /// with N > T.
    public var noiseOnFractionalKeysOnly = true
    /// scale_std = 1: std = std_base * (i - j) / N; false gives std = 1.
    public var scaleStdByDistance = true
    /// scale_mean = 1 (row mean added to the noise). Refused: see `GALIError.needsRowStatistic`.
    public var scaleMean = false
    /// noise_type = "uniform" with scale_max = 1 (the code default for uniform). Refused likewise.
    public var uniformNoiseScaledByRowMax = false

    public init(stdBase: Double = 1, noiseOnFractionalKeysOnly: Bool = true, scaleStdByDistance: Bool = true,
                scaleMean: Bool = false, uniformNoiseScaledByRowMax: Bool = false) {
        self.stdBase = stdBase
        self.noiseOnFractionalKeysOnly = noiseOnFractionalKeysOnly
        self.scaleStdByDistance = scaleStdByDistance
        self.scaleMean = scaleMean
        self.uniformNoiseScaledByRowMax = uniformNoiseScaledByRowMax
    }
}

public enum GALIError: Error, Equatable, CustomStringConvertible {
    case localWindowOutOfRange(window: Int, trainedContext: Int)
    case invalidChunk(GALIChunk, trainedContext: Int)
    case needsRowStatistic(option: String)

    public var description: String {
        switch self {
        case .localWindowOutOfRange(let w, let t):
            return "GALI local window must be in 1..<\(t) (the trained context), got \(w): with 0 the last token lands "
                + "at T - 0.5, outside the trained positions (docs/gali.md §1.3); the reference's README uses 128, its toml 1"
        case .invalidChunk(let c, let t):
            return "GALI chunk \(c) must give chunks of at least one token: a size >= 1, or a ratio r with "
                + "int(\(t) * r) >= 1 (docs/gali.md §1.1; the reference default is 3000)"
        case .needsRowStatistic(let option):
            return "GALI option \(option) needs a statistic over all N logits of a row (including masked ones) before "
                + "any of them can be used; a single-pass online softmax over key tiles cannot apply it exactly "
                + "(docs/gali.md §5.5 needs a second pass or split accumulators in the kernel); use the defaults "
                + "(scale_mean = 0, gaussian noise) instead"
        }
    }
}

/// The position map of docs/gali.md §1.3 for one context length N, in integer arithmetic. For N <= T it is the
/// identity.
///   g  = ceil((N - W) / (T - W)),  i* = ceil((N - T) / (g - 1)),  P = N - T + i*
///   p_j = j / g for j < P (prefix),  p_j = j - (N - T) for j >= P (tail: i*, ..., T - 1)
public struct GALIPositionMap: Sendable, Equatable {
    public let contextLength: Int
    public let trainedContext: Int
    /// g ("min_group_size"); 1 for N <= T.
    public let groupSize: Int
    /// i*: integer positions 0..<i* are subdivided; 0 for N <= T.
    public let splitPositions: Int
    /// P: tokens 0..<P sit at j / g; 0 for N <= T.
    public let prefixLength: Int

    public init(contextLength N: Int, trainedContext T: Int, localWindow W: Int) {
        precondition(W >= 1 && W < T && N >= 1)
        contextLength = N
        trainedContext = T
        if N <= T {
            groupSize = 1; splitPositions = 0; prefixLength = 0
        } else {
            let g = ceilDiv(N - W, T - W)          // >= 2 because N > T
            let split = ceilDiv(N - T, g - 1)
            groupSize = g; splitPositions = split; prefixLength = N - T + split
        }
    }

    /// How far tail tokens are shifted down: position = j - shift.
    public var shift: Int { max(0, contextLength - trainedContext) }

    /// p_j as an exact fraction (numerator, denominator); the denominator is g in the prefix, 1 in the tail.
    public func position(_ j: Int) -> (numerator: Int, denominator: Int) {
        j < prefixLength ? (j, groupSize) : (j - shift, 1)
    }
    public func floor(_ j: Int) -> Int { j < prefixLength ? j / groupSize : j - shift }
    public func ceil(_ j: Int) -> Int { j < prefixLength ? ceilDiv(j, groupSize) : j - shift }
    /// rho_j = ceil(p_j) - p_j as (numerator, denominator): (g - j mod g) / g for fractional prefix keys, else 0.
    public func rho(_ j: Int) -> (numerator: Int, denominator: Int) {
        guard j < prefixLength, j % groupSize != 0 else { return (0, 1) }
        return (groupSize - j % groupSize, groupSize)
    }
    public func isFractional(_ j: Int) -> Bool { j < prefixLength && j % groupSize != 0 }
}

@inline(__always) private func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

/// GALI, greedy attention logit interpolation (Li et al., EMNLP 2025, arXiv 2502.02659; adlnlp/Gali @ 5a3e947,
/// `models/DPI`, where the method is called "dpi"), docs/gali.md.
///
/// The prompt is split into chunks (§1.1); the first T tokens use ordinary positions, and every later step that
/// ends at context length N squeezes all N tokens into the trained positions 0...T-1 (§1.3): the oldest integer
/// intervals are subdivided into g slots each, the newest tokens (at least W of them) keep integer positions.
/// Queries sit at ceil(p_i); a key at a fractional position is the convex mix of itself rotated at the two
/// neighbouring integers (§2.4), which is exactly the reference's linear interpolation of the two RoPE logits.
///
/// Single-pass form (§5.1): query row i uses the map of its own context length N(i), so the whole prompt can run
/// in one causal pass (or around a ring); variant = N(i), and rows of one chunk share one key transform.
public struct GALI: PositionScheme {
    public let trainedContext: Int
    public let localWindow: Int
    public let chunk: GALIChunk
    public let promptLength: Int
    public let mode: GALIMode
    public let noise: GALINoise
    public let seed: UInt64
    public let options: GALIOptions
    public let table: RotaryTable
    /// N_k, the context length at the end of each prompt chunk (N_0 = T); empty when the prompt fits in T.
    public let chunkEnds: [Int]

    public var name: String { "gali(T=\(trainedContext), W=\(localWindow), chunk=\(chunk), \(mode.rawValue), noise=\(noise.rawValue))" }

    public init(trainedContext T: Int, localWindow W: Int, chunk: GALIChunk = .size(3000), promptLength: Int,
                mode: GALIMode = .interpolated, noise: GALINoise = .gaussian, seed: UInt64 = 0,
                options: GALIOptions = GALIOptions(), table: RotaryTable) throws {
        guard W >= 1 && W < T else { throw GALIError.localWindowOutOfRange(window: W, trainedContext: T) }
        switch chunk {
        case .size(let n): guard n >= 1 else { throw GALIError.invalidChunk(chunk, trainedContext: T) }
        case .ratio(let r): guard r.isFinite, Double(T) * r >= 1 else { throw GALIError.invalidChunk(chunk, trainedContext: T) }
        }
        if options.scaleMean { throw GALIError.needsRowStatistic(option: "scale_mean = 1") }
        if options.uniformNoiseScaledByRowMax { throw GALIError.needsRowStatistic(option: "noise_type = uniform with scale_max = 1") }
        trainedContext = T
        localWindow = W
        self.chunk = chunk
        self.promptLength = promptLength
        self.mode = mode
        self.noise = noise
        self.seed = seed
        self.options = options
        self.table = table
        if promptLength > T {
            var end = 0
            chunkEnds = Self.chunkSizes(promptLength: promptLength, trainedContext: T, chunk: chunk).map { end += $0; return end }
        } else {
            chunkEnds = []
        }
    }

    /// `get_chunk_size_list` (§1.1): [T, c, c, ...] with the last chunk shrunk so the sizes add up to L. A ratio
    /// chunk is int(S * ratio) with S the tokens scheduled so far (Python float product, truncated). For L <= T
    /// the reference returns [L]. Requires a chunk that yields at least one token (`GALI.init` checks this).
    public static func chunkSizes(promptLength L: Int, trainedContext T: Int, chunk: GALIChunk) -> [Int] {
        var sizes = [T], total = T
        while total < L {
            let c: Int
            switch chunk {
            // Capped at L (overflow guard only: the last chunk is shrunk to L - total anyway).
            case .size(let n): c = min(n, L)
            case .ratio(let r): c = Int(min(Double(total) * r, Double(L)))
            }
            precondition(c >= 1, "GALI chunk \(chunk) gives empty chunks")
            sizes.append(c)
            total += c
        }
        sizes[sizes.count - 1] -= total - L
        return sizes
    }

    /// No limit: every step squeezes all N tokens into positions 0...T-1 (g grows with N), so relative distances
    /// never leave the trained range. nil, like other unbounded methods.
    public static func maximumLength(trainedContext T: Int, localWindow W: Int) -> Int? { nil }

    public func positionMap(contextLength N: Int) -> GALIPositionMap {
        GALIPositionMap(contextLength: N, trainedContext: trainedContext, localWindow: localWindow)
    }

    /// N(i) of §5.1: T for the first T tokens (ordinary attention), N_k for a row in prompt chunk k, and i + 1 for
    /// generated tokens (decode rebuilds the map at every step).
    public func contextLength(ofRow i: Int) -> Int {
        if i < trainedContext { return trainedContext }
        if i < promptLength {
            // First chunk end above i (chunkEnds is increasing and its last entry is promptLength > i).
            var lo = 0, hi = chunkEnds.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if chunkEnds[mid] > i { hi = mid } else { lo = mid + 1 }
            }
            return chunkEnds[lo]
        }
        return i + 1
    }

    /// Integer query position ceil(p(i; N)); i itself when N <= T.
    public func queryPosition(_ i: Int, contextLength N: Int) -> Int { positionMap(contextLength: N).ceil(i) }

    public func variant(query i: Int, key j: Int) -> Int { contextLength(ofRow: i) }

    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] {
        // Rows below the first key see none of this tile's keys, so their N does not matter here.
        var i = max(queries.lowerBound, keys.lowerBound)
        var result: [Int] = []
        while i <= queries.upperBound {
            let n = contextLength(ofRow: i)
            result.append(n)
            // Every row of a prompt chunk (and of the first T) shares N; generated rows each have their own.
            i = i < promptLength || i < trainedContext ? n : i + 1
        }
        return result.isEmpty ? [contextLength(ofRow: queries.upperBound)] : result
    }

    public func keyClass(of variant: Int) -> Int { variant }

    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        table.rotate(q, position: queryPosition(i, contextLength: v), scale: scale, into: out)
    }

    /// kTilde_j(N) = (1 - rho_j) R(ceil p_j) k + rho_j R(floor p_j) k (§2.4), in float32 from the pre-RoPE key.
    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        let map = positionMap(contextLength: keyClass)
        let rho = map.rho(j)
        table.rotate(k, position: map.ceil(j), into: out)
        guard mode == .interpolated, rho.numerator != 0 else { return }
        let d = table.dimensions
        let wFloor = Float(Double(rho.numerator) / Double(rho.denominator))
        let wCeil = Float(Double(rho.denominator - rho.numerator) / Double(rho.denominator))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: d) { tmp in
            table.rotate(k, position: map.floor(j), into: tmp.baseAddress!)
            for c in 0..<d { out[c] = wCeil * out[c] + wFloor * tmp[c] }
        }
    }

    public func prepare(maxPosition: Int) { table.reserve(positions: maxPosition + 1) }

    // MARK: Noise (§2.2, §5.4)

    /// Gaussian noise runs only on interpolated logits; `.referenceBF16` has rho = 0 everywhere, so the
    /// reference's noise mask is empty there (§2.6) unless the noise goes on every key.
    public var addsLogitNoise: Bool {
        noise == .gaussian && (mode == .interpolated || !options.noiseOnFractionalKeysOnly)
    }

    /// The standard deviation of the noise on logit (i, j), 0 where none is added: the reference adds noise only
    /// when k_len = N(i) > T, and (addon_relcoef = 1) only on keys with rho != 0.
    public func noiseStandardDeviation(query i: Int, key j: Int) -> Double {
        let N = contextLength(ofRow: i)
        guard addsLogitNoise, N > trainedContext, j <= i else { return 0 }
        let map = positionMap(contextLength: N)
        if options.noiseOnFractionalKeysOnly && (mode == .referenceBF16 || !map.isFractional(j)) { return 0 }
        return options.scaleStdByDistance ? options.stdBase * Double(i - j) / Double(N) : 1
    }

    /// Adds eps * std to causal entries; eps is the draw keyed by (seed, layer, head, N(i), i, j) (`LogitNoise`, in
    /// C), so every split of rows and keys, in any order, draws the same numbers. Masked entries (j > i) are left
    /// alone.
    public func addLogitNoise(_ scores: UnsafeMutablePointer<Float>, rowPositions: [Int], rowHeads: [Int],
                              keyPositions: UnsafeBufferPointer<Int32>, layer: Int) {
        guard addsLogitNoise, let keys = keyPositions.baseAddress else { return }
        let n = keyPositions.count
        for r in 0..<rowPositions.count {
            let i = rowPositions[r]
            let N = contextLength(ofRow: i)
            if N <= trainedContext { continue }
            let map = positionMap(contextLength: N)
            let row = LogitNoise.Row(
                rowKey: LogitNoise.rowKey(seed: seed, layer: layer, head: rowHeads[r], contextLength: N, query: i),
                query: i, prefixLength: map.prefixLength, groupSize: map.groupSize,
                fractionalOnly: options.noiseOnFractionalKeysOnly,
                stdPerDistance: options.scaleStdByDistance ? Float(options.stdBase / Double(N)) : 0,
                stdConstant: options.scaleStdByDistance ? 0 : 1)
            LogitNoise.add(to: scores + r * n, keyPositions: keys, count: n, row: row)
        }
    }

    /// The N(0, 1) draw of logit (i, j) in layer `layer`, head `head`, with i's context length N: a counter-based
    /// draw (SplitMix64's finaliser over the key, then Box-Muller in f32; docs/gali.md, "The noise generator").
    /// The PyTorch bits cannot be matched (§2.2); only the distribution is.
    public static func standardNormal(seed: UInt64, layer: Int, head: Int, contextLength N: Int, query i: Int, key j: Int) -> Double {
        let rowKey = LogitNoise.rowKey(seed: seed, layer: layer, head: head, contextLength: N, query: i)
        return Double(LogitNoise.standardNormal(rowKey: rowKey, key: j))
    }
}
