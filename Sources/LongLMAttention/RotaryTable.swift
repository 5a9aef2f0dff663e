import Foundation

/// How the rotary dimensions are paired. The convention belongs to the loaded tensors: GGUF's Llama
/// converter permutes Q/K rows so llama.cpp can rotate adjacent pairs; HF checkpoints and GGUF
/// Gemma/Qwen2 rotate halves (`rotate_half`).
public enum RotaryPairing: String, Sendable {
    /// (x[2m], x[2m+1]): llama.cpp "normal" rope, Meta/GPT-J style.
    case adjacent
    /// (x[m], x[m + d/2]): NeoX / HF `rotate_half`.
    case halves
}

/// cos/sin of position * inverse frequency, tabulated per integer position.
/// Angles are computed in Double and rounded once, so large positions keep their accuracy.
public final class RotaryTable: @unchecked Sendable {
    public let dimensions: Int
    public let pairing: RotaryPairing
    /// theta_m for m = 0 ..< dimensions/2 (of position 0 when the frequencies vary with the position).
    public let inverseFrequencies: [Double]
    /// The frequencies position p is rotated with; constant except for schemes such as dynamic NTK.
    private let frequenciesAt: @Sendable (Int) -> [Double]
    private(set) var cosines: [Float] = []
    private(set) var sines: [Float] = []
    public private(set) var positionCount = 0
    private let lock = NSLock()

    public init(dimensions: Int, pairing: RotaryPairing, inverseFrequencies: [Double]) {
        precondition(dimensions % 2 == 0 && inverseFrequencies.count == dimensions / 2)
        self.dimensions = dimensions
        self.pairing = pairing
        self.inverseFrequencies = inverseFrequencies
        frequenciesAt = { _ in inverseFrequencies }
    }

    /// A table whose frequencies depend on the position (each row p uses `frequenciesAt(p)`).
    public init(dimensions: Int, pairing: RotaryPairing, frequenciesAt: @escaping @Sendable (Int) -> [Double]) {
        precondition(dimensions % 2 == 0)
        self.dimensions = dimensions
        self.pairing = pairing
        self.frequenciesAt = frequenciesAt
        inverseFrequencies = frequenciesAt(0)
    }

    /// theta_m = base^(-2m/d), the standard RoPE frequencies.
    public static func standardFrequencies(base: Double, dimensions: Int) -> [Double] {
        (0..<dimensions / 2).map { m in pow(base, -2.0 * Double(m) / Double(dimensions)) }
    }

    /// Makes sure positions 0 ..< count are tabulated. Thread-safe; call before parallel work for speed.
    /// A table grows by at least an eighth (decode adds one position per step), not by doubling: at 128k
    /// positions a doubled table would hold 128k rows (128 MiB at head dim 256) that no position reaches.
    /// Sequences that know their length reserve it once up front (`Generator.makeCache`).
    public func reserve(positions count: Int) {
        lock.lock(); defer { lock.unlock() }
        guard count > positionCount else { return }
        let newCount = max(count, positionCount + positionCount / 8, 1024)
        let half = dimensions / 2
        // Taken out of the properties first, so the arrays are not shared and grow without a second copy.
        var cos = cosines, sin = sines
        cosines = []; sines = []
        cos.reserveCapacity(newCount * half); sin.reserveCapacity(newCount * half)
        for p in positionCount..<newCount {
            let frequencies = frequenciesAt(p)
            for m in 0..<half {
                let angle = (Double(p) * frequencies[m]).truncatingRemainder(dividingBy: 2 * Double.pi)
                cos.append(Float(Foundation.cos(angle)))
                sin.append(Float(Foundation.sin(angle)))
            }
        }
        cosines = cos; sines = sin
        positionCount = newCount
    }

    /// Writes `scale * R(position) x` into `out` (both `dimensions` long; may alias).
    @inline(__always)
    public func rotate(_ x: UnsafePointer<Float>, position: Int, scale: Float = 1, into out: UnsafeMutablePointer<Float>) {
        let half = dimensions / 2
        cosines.withUnsafeBufferPointer { cb in
            sines.withUnsafeBufferPointer { sb in
                let c = cb.baseAddress! + position * half, s = sb.baseAddress! + position * half
                switch pairing {
                case .halves:
                    for m in 0..<half {
                        let a = x[m], b = x[m + half]
                        out[m] = scale * (a * c[m] - b * s[m])
                        out[m + half] = scale * (a * s[m] + b * c[m])
                    }
                case .adjacent:
                    for m in 0..<half {
                        let a = x[2 * m], b = x[2 * m + 1]
                        out[2 * m] = scale * (a * c[m] - b * s[m])
                        out[2 * m + 1] = scale * (a * s[m] + b * c[m])
                    }
                }
            }
        }
    }
}
