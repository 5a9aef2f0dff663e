/// An owned, 64-byte-aligned block of Float32: a row-major matrix [rows, cols] (a vector when rows == 1).
public final class FloatBuffer: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let pointer: UnsafeMutablePointer<Float>
    public var count: Int { rows * cols }
    /// The buffer whose memory this one views (nil: this one owns its memory).
    private let viewed: FloatBuffer?

    public init(rows: Int, cols: Int, zeroed: Bool = true) {
        self.rows = rows
        self.cols = cols
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * cols) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, rows * cols))
        if zeroed { pointer.initialize(repeating: 0, count: max(1, rows * cols)) }
        viewed = nil
    }

    /// Rows `range` of `buffer`, sharing its memory (the view keeps `buffer` alive).
    public init(rowsOf buffer: FloatBuffer, _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= buffer.rows)
        rows = range.count
        cols = buffer.cols
        pointer = buffer.pointer + range.lowerBound * buffer.cols
        viewed = buffer
    }

    public convenience init(_ values: [Float]) {
        self.init(rows: 1, cols: values.count, zeroed: false)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { if viewed == nil { pointer.deallocate() } }

    public func row(_ r: Int) -> UnsafeMutablePointer<Float> { pointer + r * cols }
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
