import Foundation
import XCTest
import LongLMCore
@testable import LongLMModels

/// Pins `loadWeight`: f32 weights are copied dense, every type with a kernel stays encoded in the file's bytes,
/// and a type without one is refused with the tensor's name and type rather than expanded to f32.
final class WeightMatrixTests: XCTestCase {
    /// A source holding one tensor of zero bytes (every format decodes zeros to finite weights).
    private final class OneTensor: TensorSource {
        let stored: StoredTensor
        let bytes: UnsafeMutableRawPointer

        init(name: String, type: GGMLType, rows: Int, cols: Int) {
            let byteCount = rows * type.rowBytes(count: cols)!
            bytes = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
            bytes.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
            stored = StoredTensor(name: name, type: type, rows: rows, cols: cols, data: UnsafeRawPointer(bytes),
                                  byteCount: byteCount)
        }

        deinit { bytes.deallocate() }

        func tensor(named name: String) -> StoredTensor? { name == stored.name ? stored : nil }
    }

    func testEveryTypeWithAKernelStaysEncodedAndF32StaysDense() throws {
        for type in QuantizedMatrix.supportedTypes {
            let source = OneTensor(name: "blk.0.ffn_up.weight", type: type, rows: 3, cols: 512)
            switch try source.loadWeight("blk.0.ffn_up.weight", rows: 3, cols: 512) {
            case .dense(let m):
                XCTAssertEqual(type, .f32, "\(type.name) was copied to f32")
                XCTAssertEqual([m.rows, m.cols], [3, 512])
            case .encoded(let q):
                XCTAssertNotEqual(type, .f32, "f32 weights are read by BLAS as a dense copy")
                XCTAssertEqual(q.type, type)
                XCTAssertEqual(q.data, UnsafeRawPointer(source.bytes), "\(type.name) is not the file's bytes")
            }
        }
    }

    func testTwoDimensionalWeightOfATypeWithoutKernelIsAnErrorNamingTensorAndType() {
        for type in GGMLType.allCases where !QuantizedMatrix.hasKernel(type) {
            let source = OneTensor(name: "blk.3.attn_q.weight", type: type, rows: 2, cols: 256)
            XCTAssertThrowsError(try source.loadWeight("blk.3.attn_q.weight", rows: 2, cols: 256), type.name) { error in
                guard case WeightMatrixError.noKernel(let tensor, let found) = error else {
                    return XCTFail("\(type.name): expected noKernel, got \(error)")
                }
                XCTAssertEqual(tensor, "blk.3.attn_q.weight")
                XCTAssertEqual(found, type)
                let message = "\(error)"
                XCTAssertTrue(message.contains("'blk.3.attn_q.weight'") && message.contains(type.name)
                              && message.contains("Q4_K"), message)
            }
        }
    }
}
