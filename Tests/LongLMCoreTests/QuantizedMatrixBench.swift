import Foundation
import XCTest
import LongLMCore  // public API only, so this also builds with `swift test -c release`

/// Decode-path speed of `QuantizedMatrix.multiply` against sgemv on the dequantized f32 matrix, on tensors of
/// the default model. Not a pass/fail test: skipped unless LONGLM_BENCH=1, and meaningful only in release:
///     LONGLM_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter QuantizedMatrixBench
/// (-enable-testing because other files of this target use @testable imports). Add
/// `-Xswiftc -Xcc -Xswiftc -march=native` to let the kernels use AVX2/AVX-512.
final class QuantizedMatrixBench: XCTestCase {
    func testPrintMatrixVectorSpeedOnDefaultModel() throws {
        guard ProcessInfo.processInfo.environment["LONGLM_BENCH"] == "1" else {
            throw XCTSkip("benchmark; set LONGLM_BENCH=1 and build in release")
        }
        guard FileManager.default.fileExists(atPath: ModelTensors.defaultModel) else {
            throw XCTSkip("default model absent (\(ModelTensors.defaultModel))")
        }
        let model = try ModelTensors(path: ModelTensors.defaultModel)
        print("QuantizedMatrixBench: Parallel.threads \(Parallel.threads), BLAS threads \(BLAS.threads); best of N")
        for (name, label) in [("token_embd.weight", "output (tied embedding)"), ("blk.0.ffn_gate.weight", "ffn_gate"),
                              ("blk.0.ffn_down.weight", "ffn_down"), ("blk.2.ffn_down.weight", "ffn_down")] {
            let matrix = try model.matrix(name)
            try bench(matrix, "\(name) (\(label))")
        }
    }

    private func bench(_ matrix: QuantizedMatrix, _ what: String) throws {
        let (rows, cols) = (matrix.rows, matrix.cols)
        let weights = FloatBuffer(rows: rows, cols: cols, zeroed: false)
        Parallel.forRanges(rows) { range in
            for r in range { matrix.dequantizeRow(r, into: weights.row(r)) }
        }
        let x = FloatBuffer((0..<cols).map { Float(sin(Double($0))) })
        let y = FloatBuffer(rows: 1, cols: rows), yBLAS = FloatBuffer(rows: 1, cols: rows)
        let reps = max(3, min(200, 2_000_000_000 / (rows * cols * 4)))

        let quantized = best(reps) { matrix.multiply(x.pointer, into: y.pointer) }
        let threads = Parallel.threads
        Parallel.threads = 1
        let oneThread = best(reps) { matrix.multiply(x.pointer, into: y.pointer) }
        Parallel.threads = threads
        let sgemv = best(reps) {
            BLAS.matmulTransposedB(m: 1, n: rows, k: cols, a: x.pointer, lda: cols, b: weights.pointer, ldb: cols,
                                   c: yBLAS.pointer, ldc: rows)
        }
        let x4 = FloatBuffer(rows: 4, cols: cols)
        for v in 0..<4 { for c in 0..<cols { x4.row(v)[c] = x.pointer[c] * Float(v + 1) } }
        let y4 = FloatBuffer(rows: 4, cols: rows)
        let batched = best(max(3, reps / 2)) { matrix.multiply(x4.pointer, count: 4, into: y4.pointer) }

        var difference: Float = 0, largest: Float = 0
        for r in 0..<rows {
            difference = max(difference, abs(y.pointer[r] - yBLAS.pointer[r]))
            largest = max(largest, abs(yBLAS.pointer[r]))
        }
        let quantizedBytes = Double(rows * matrix.rowBytes), floatBytes = Double(rows * cols * 4)
        func line(_ label: String, _ seconds: Double, _ bytes: Double) -> String {
            label.padding(toLength: 28, withPad: " ", startingAt: 0)
                + String(format: " %8.3f ms  %6.2f GB/s", seconds * 1e3, bytes / seconds / 1e9)
        }
        print("\(what): \(matrix.type.name) [\(rows), \(cols)]")
        print(line("  QuantizedMatrix.multiply", quantized, quantizedBytes))
        print(line("  sgemv on f32 (BLAS, m=1)", sgemv, floatBytes))
        print(line("  multiply, 1 thread", oneThread, quantizedBytes))
        print(line("  multiply, 4 vectors", batched, quantizedBytes))
        print(String(format: "  speed-up %.2fx; max |y - y_BLAS| / max |y_BLAS| = %.1e", sgemv / quantized,
                     difference / largest))
    }

    private func best(_ reps: Int, _ body: () -> Void) -> Double {
        body()  // warm caches and thread pools
        var best = Double.infinity
        for _ in 0..<reps {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return best
    }
}
