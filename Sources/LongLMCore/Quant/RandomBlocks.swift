/// Random weight blocks of any type with finite scales, for benchmarks: every byte random, then each f16
/// scale field set to a random finite value of moderate size (|s| in 2^-8 ... 2^2).
public final class RandomBlocks {
    public let matrix: QuantizedMatrix
    private let buffer: UnsafeMutableRawPointer

    public init(type: GGMLType, rows: Int, cols: Int, seed: UInt64) throws {
        guard let rowBytes = type.rowBytes(count: cols) else {
            throw QuantizedMatrix.Failure.columnsNotWholeBlocks(type: type, cols: cols)
        }
        let bytes = rows * rowBytes
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes), alignment: 64)
        self.buffer = buffer
        var rng = SplitMix64(seed: seed)
        var i = 0
        while i + 8 <= bytes { buffer.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self); i += 8 }
        while i < bytes { buffer.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self); i += 1 }
        func setHalf(_ offset: Int) {
            let half = UInt16(rng.next() & 0x8000) | UInt16(7 + rng.next() % 10) << 10 | UInt16(rng.next() & 0x3FF)
            buffer.storeBytes(of: half.littleEndian, toByteOffset: offset, as: UInt16.self)
        }
        let halfFields: [Int]
        switch type {
        case .q8_0, .q4_0, .q5_0, .iq4_nl, .iq4_xs: halfFields = [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: halfFields = [0, 2]
        case .q2_K: halfFields = [80, 82]
        case .q3_K: halfFields = [108]
        case .q6_K: halfFields = [208]
        case .f16: halfFields = [0]
        default: halfFields = []
        }
        if type == .f32 {
            for e in 0..<(bytes / 4) { buffer.storeBytes(of: Float(Int(rng.next() % 2001) - 1000) / 1000, toByteOffset: 4 * e, as: Float.self) }
        } else if type == .bf16 {
            for e in 0..<(bytes / 2) {
                let value = Float(Int(rng.next() % 2001) - 1000) / 1000
                buffer.storeBytes(of: UInt16(value.bitPattern >> 16), toByteOffset: 2 * e, as: UInt16.self)
            }
        } else {
            for b in 0..<(bytes / type.bytesPerBlock) { for f in halfFields { setHalf(b * type.bytesPerBlock + f) } }
        }
        do {
            matrix = try QuantizedMatrix(type: type, rows: rows, cols: cols, data: UnsafeRawPointer(buffer))
        } catch {
            buffer.deallocate()
            throw error
        }
    }

    deinit { buffer.deallocate() }
}
