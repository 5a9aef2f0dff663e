import CLongLMKernels
import Foundation

/// Small f32 kernels used by every architecture. Each has a one-line formula from its reference.
public enum Kernels {
    /// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w (llama.cpp ggml_rms_norm then ggml_mul; the sum is
    /// accumulated in Double as ggml does (ggml_float)).
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, count n: Int,
                               eps: Float, into y: UnsafeMutablePointer<Float>) {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i]) * Double(x[i]) }
        let scale = Float(1.0 / (sum / Double(n) + Double(eps)).squareRoot())
        if let w = weight {
            for i in 0..<n { y[i] = x[i] * scale * w[i] }
        } else {
            for i in 0..<n { y[i] = x[i] * scale }
        }
    }

    /// RMSNorm over each of `rows` rows of length `n` with stride `n`.
    public static func rmsNormRows(_ x: UnsafeMutablePointer<Float>, rows: Int, count n: Int,
                                   weight: UnsafePointer<Float>?, eps: Float, into y: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(rows, minimumPerChunk: 16) { range in
            for r in range { rmsNorm(x + r * n, weight: weight, count: n, eps: eps, into: y + r * n) }
        }
    }

    /// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (HF gelu_pytorch_tanh).
    @inline(__always)
    public static func geluTanh(_ x: Float) -> Float {
        let c: Float = 0.7978845608028654  // sqrt(2/pi)
        return 0.5 * x * (1 + tanhf(c * (x + 0.044715 * x * x * x)))
    }

    /// SiLU: x * sigmoid(x).
    @inline(__always)
    public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// out[i] = act(gate[i]) * up[i], in place into gate. The exact precision evaluates the C library's tanhf /
    /// expf per value; the fast one the vectorised kernel (CLongLMKernels, `longlm_gated_activation`: a
    /// polynomial exp, error stated in GatedActivationTests).
    public static func gatedActivation(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int,
                                       activation: Activation, precision: Precision = Compute.precision,
                                       variant: KernelVariant = Compute.kernels) {
        if precision == .fast {
            let kind = activation == .geluTanh ? LONGLM_ACTIVATION_GELU_TANH : LONGLM_ACTIVATION_SILU
            Parallel.forRanges(count, minimumPerChunk: 1 << 14) { range in
                longlm_gated_activation(variant.cVariant, kind, gate + range.lowerBound, up + range.lowerBound,
                                        Int64(range.count))
            }
            return
        }
        Parallel.forRanges(count, minimumPerChunk: 1 << 14) { range in
            switch activation {
            case .geluTanh: for i in range { gate[i] = geluTanh(gate[i]) * up[i] }
            case .silu: for i in range { gate[i] = silu(gate[i]) * up[i] }
            }
        }
    }

    /// y += x.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }
}

public enum Activation: String, Sendable { case geluTanh, silu }
