import Foundation
import XCTest
import CLongLMKernels
@testable import LongLMCore

/// The fast precision's gated activation (`longlm_gated_activation`): every variant gives the same bits, and each
/// value is within a stated bound of the function computed in Double:
///   |fast - reference| <= 1e-6 |reference| + 1e-7 |x up|
/// (the polynomial exp's 2e-7 relative error, a few roundings of u = sqrt(2/pi)(x + 0.044715 x^3), and an
/// absolute term for the far negative tail, where the result is below 1e-7 |x| anyway).
final class GatedActivationTests: XCTestCase {
    func referenceGelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
    func referenceSilu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    func inputs() -> [Float] {
        var rng = SplitMix(seed: 21)
        let random = (0..<4099).map { _ in rng.nextFloat(-12, 12) }
        return random + [0, -0.0, 1e-30, -1e-30, 1e-5, -1e-5, 3, -3, 9, -9, 20, -20, 60, -60, 150, -150, 1e4, -1e4]
    }

    func testEveryVariantIsWithinTheStatedBoundOfTheFunctionInDouble() {
        let x = inputs()
        var rng = SplitMix(seed: 22)
        let up = x.map { _ in rng.nextFloat(-2, 2) }
        for (activation, kind, reference) in [(Activation.geluTanh, LONGLM_ACTIVATION_GELU_TANH, referenceGelu),
                                               (Activation.silu, LONGLM_ACTIVATION_SILU, referenceSilu)] {
            var first: [Float]? = nil
            for variant in KernelVariant.supportedHere {
                var gate = x
                gate.withUnsafeMutableBufferPointer { g in
                    up.withUnsafeBufferPointer { longlm_gated_activation(variant.cVariant, kind, g.baseAddress!, $0.baseAddress!, Int64(x.count)) }
                }
                for i in 0..<x.count {
                    let expected = reference(Double(x[i])) * Double(up[i])
                    let bound = 1e-6 * abs(expected) + 1e-7 * abs(Double(x[i]) * Double(up[i]))
                    XCTAssertLessThanOrEqual(abs(Double(gate[i]) - expected), bound, "\(activation) \(variant) x = \(x[i])")
                }
                if let first { XCTAssertEqual(gate.map(\.bitPattern), first.map(\.bitPattern), "\(activation) \(variant) bits") }
                first = first ?? gate
            }
        }
    }

    func testThePrecisionSettingChoosesTheKernelOrTheLibraryFunction() {
        let x: [Float] = (0..<100).map { Float($0) / 10 - 5 }
        let up = [Float](repeating: 1, count: 100)
        func run(_ precision: Precision) -> [Float] {
            var gate = x
            gate.withUnsafeMutableBufferPointer { g in
                up.withUnsafeBufferPointer { Kernels.gatedActivation(gate: g.baseAddress!, up: $0.baseAddress!, count: 100, activation: .geluTanh, precision: precision) }
            }
            return gate
        }
        XCTAssertEqual(run(.exact), x.map { Kernels.geluTanh($0) }, "exact: the library's tanhf per value")
        var kernel = x
        kernel.withUnsafeMutableBufferPointer { g in
            up.withUnsafeBufferPointer { longlm_gated_activation(Compute.kernels.cVariant, LONGLM_ACTIVATION_GELU_TANH, g.baseAddress!, $0.baseAddress!, 100) }
        }
        XCTAssertEqual(run(.fast), kernel)
    }
}
