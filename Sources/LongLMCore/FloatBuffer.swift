/// An owned, 64-byte-aligned block of Float32: a row-major matrix [rows, cols] (a vector when rows == 1).
public final class FloatBuffer: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let pointer: UnsafeMutablePointer<Float>
    public var count: Int { rows * cols }

    public init(rows: Int, cols: Int, zeroed: Bool = true) {
        self.rows = rows
        self.cols = cols
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * cols) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, rows * cols))
        if zeroed { pointer.initialize(repeating: 0, count: max(1, rows * cols)) }
    }

    public convenience init(_ values: [Float]) {
        self.init(rows: 1, cols: values.count, zeroed: false)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public func row(_ r: Int) -> UnsafeMutablePointer<Float> { pointer + r * cols }
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
