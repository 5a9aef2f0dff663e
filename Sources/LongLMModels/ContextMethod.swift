import Foundation
import LongLMAttention

/// The user's choice of context-extension method for the global (full-attention) layers, with its
/// parameters; `scheme(for:promptLength:)` turns it into the position scheme of one sequence.
/// Sliding-window layers always keep the model's own RoPE (their window is inside the trained range;
/// llama.cpp's group attention regroups them too and breaks Gemma 3 even at 4k).
public struct ContextMethod: Sendable, Codable, CustomStringConvertible {
    public enum Kind: Sendable, Codable {
        /// The model's own RoPE configuration, including any RoPE scaling its config asks for.
        case none
        /// Position interpolation, NTK, dynamic/consistent NTK, YaRN, Llama 3 (replaces the config's scaling).
        case ropeScaling(RopeScaling)
        case selfExtend(groupSize: Int, window: Int)
        case dualChunk(chunkSize: Int, localWindow: Int)
        case gali(localWindow: Int, chunk: GALIChunk, mode: GALIMode, noise: GALINoise, seed: UInt64)
    }
    public var kind: Kind
    /// LogN query scaling on top of the method.
    public var logN: Bool

    public init(_ kind: Kind, logN: Bool = false) {
        self.kind = kind
        self.logN = logN
    }

    public static let plain = ContextMethod(.none)

    public var description: String {
        var s: String
        switch kind {
        case .none: s = "none"
        case .ropeScaling(let r): s = r.name
        case .selfExtend(let g, let w): s = "selfextend (group size \(g), window \(w))"
        case .dualChunk(let c, let w): s = "dca (chunk size \(c), local window \(w))"
        case .gali(let w, let chunk, let mode, let noise, let seed):
            s = "gali (local window \(w), chunk \(chunk), \(mode.rawValue), noise \(noise.rawValue), seed \(seed))"
        }
        if logN { s += " + logn" }
        return s
    }

    public enum Failure: Error, CustomStringConvertible {
        case invalid(String)
        case promptTooLong(tokens: Int, maximum: Int, hint: String)
        public var description: String {
            switch self {
            case .invalid(let s): return s
            case .promptTooLong(let n, let max, let hint):
                return "the prompt has \(n) tokens but this method and its parameters allow at most \(max); \(hint)"
            }
        }
    }

    /// Checks the parameters against the model.
    public func validate(config: ModelConfig) throws {
        let L = config.trainedContext
        switch kind {
        case .none: break
        case .ropeScaling(let r):
            do { try r.validate() } catch { throw Failure.invalid("\(error)") }
        case .selfExtend(let g, let w):
            guard g >= 1 else { throw Failure.invalid("--group-size must be at least 1 (got \(g))") }
            guard w >= 1 && w < L else { throw Failure.invalid("--window must be in 1..<\(L), the trained context (got \(w))") }
            guard w % g == 0 else {
                let choices = [w / g * g, (w / g + 1) * g].filter { $0 >= 1 && $0 < L }.map { "--window \($0)" }
                throw Failure.invalid("--window \(w) must be a multiple of --group-size \(g) (the shift W - W/G must be an integer)"
                                      + (choices.isEmpty ? "" : "; try " + choices.joined(separator: " or ")))
            }
        case .dualChunk(let c, let w):
            guard w >= 0 && c > w else { throw Failure.invalid("--chunk-size (\(c)) must be larger than --local-window (\(w)) and the window must be >= 0") }
            guard c < L else { throw Failure.invalid("--chunk-size \(c) must be below the trained context \(L): it is the largest query position DCA uses") }
        case .gali(let w, let chunk, _, _, _):
            guard w >= 1 && w < L else { throw Failure.invalid("--local-window must be in 1..<\(L), the trained context (got \(w))") }
            if case .ratio(let r) = chunk, !(r.isFinite && Double(L) * r >= 1) {
                throw Failure.invalid("--gali-chunk \(r) is a ratio that gives empty chunks")
            }
            if case .size(let n) = chunk, n < 1 { throw Failure.invalid("--gali-chunk must be at least 1 token") }
        }
    }

    /// The longest sequence (prompt plus generated tokens) the method keeps inside the trained positions,
    /// or nil if it has no limit.
    public func maximumLength(config: ModelConfig) -> Int? {
        switch kind {
        case .none:
            // A checkpoint's own scaling may reach past its max_position_embeddings (HF usually states the
            // extended length there already).
            guard let r = config.ropeScaling else { return config.trainedContext }
            return Self.maximumLength(r, trainedContext: config.trainedContext).map { max($0, config.trainedContext) }
        case .ropeScaling(let r): return Self.maximumLength(r, trainedContext: config.trainedContext)
        case .selfExtend(let g, let w): return SelfExtend.maximumLength(trainedContext: config.trainedContext, groupSize: g, window: w)
        case .dualChunk, .gali: return nil
        }
    }

    static func maximumLength(_ r: RopeScaling, trainedContext L: Int) -> Int? {
        switch r {
        case .linear(let f), .ntk(let f): return Int(f * Double(L))
        case .yarn(let f, let original, _, _, _), .llama3(let f, _, _, let original): return Int(f * Double(original))
        case .dynamicNTK, .consistentNTK: return nil   // the base grows with the sequence
        }
    }

    /// Refuses a sequence longer than `maximumLength`, naming what would fit.
    public func checkLength(_ tokens: Int, config: ModelConfig) throws {
        guard let maximum = maximumLength(config: config), tokens > maximum else { return }
        let L = config.trainedContext
        let hint: String
        switch kind {
        case .none:
            if let group = smallestGroupSize(tokens: tokens, trainedContext: L, window: min(L / 2, 4096)) {
                hint = "the trained context is \(L); use a context-extension method, e.g. --method selfextend --group-size \(group.size) --window \(group.window), or --method dca"
            } else {
                hint = "the trained context is \(L); use a context-extension method without a limit, e.g. --method dca or --method gali"
            }
        case .ropeScaling(let r):
            var original = L
            if case .yarn(_, let o, _, _, _) = r { original = o }
            if case .llama3(_, _, _, let o) = r { original = o }
            hint = String(format: "the smallest factor that fits is --factor %.2f", (Double(tokens) / Double(original) * 100).rounded(.up) / 100)
        case .selfExtend(_, let w):
            if let group = smallestGroupSize(tokens: tokens, trainedContext: L, window: w) {
                hint = "the smallest group size that fits with --window \(w) is --group-size \(group.size)"
                    + (group.window != w ? " (with --window \(group.window), a multiple of it)" : "")
            } else {
                hint = "no group size fits a trained context of \(L); use --method dca or --method gali"
            }
        case .dualChunk, .gali:
            hint = ""
        }
        throw Failure.promptTooLong(tokens: tokens, maximum: maximum, hint: hint)
    }

    /// Smallest G with (L - W) * G + W >= tokens; if W is not a multiple of G, the nearest window below W that
    /// is (or G itself when G > W). Nil when no group size fits (tokens beyond about L²/4).
    func smallestGroupSize(tokens: Int, trainedContext L: Int, window W: Int) -> (size: Int, window: Int)? {
        var size = max(1, (tokens - W + (L - W) - 1) / (L - W))
        while size < L {
            let window = max(size, W / size * size)
            if window < L && (L - window) * size + window >= tokens { return (size, window) }
            size += 1
        }
        return nil
    }

    /// The position scheme of the global layers for one sequence whose prompt has `promptLength` tokens.
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        let config = model.config
        var scheme: any PositionScheme
        switch kind {
        case .none:
            scheme = config.ropeScaling.map {
                $0.scheme(base: config.ropeBase, dimensions: config.headDim, pairing: config.rotaryPairing, promptLength: promptLength)
            } ?? RotaryScheme(table: model.globalRotary)
        case .ropeScaling(let r):
            scheme = r.scheme(base: config.ropeBase, dimensions: config.headDim, pairing: config.rotaryPairing, promptLength: promptLength)
        case .selfExtend(let g, let w): scheme = SelfExtend(groupSize: g, window: w, table: model.globalRotary)
        case .dualChunk(let c, let w): scheme = DualChunk(chunkSize: c, localWindow: w, table: model.globalRotary)
        case .gali(let w, let chunk, let mode, let noise, let seed):
            scheme = try GALI(trainedContext: config.trainedContext, localWindow: w, chunk: chunk, promptLength: promptLength,
                              mode: mode, noise: noise, seed: seed, table: model.globalRotary)
        }
        if logN { scheme = LogNScaling(scheme, trainedContext: config.trainedContext) }
        return scheme
    }
}
