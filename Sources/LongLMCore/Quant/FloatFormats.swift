/// IEEE binary16 bits to binary32, exactly (every half is representable as a float).
///
/// Subnormals become normal floats; infinities keep their sign; NaNs keep sign and payload (shifted to the top
/// of the float mantissa) and are not quieted, as numpy's conversion (and so gguf-py) does. Hardware F16C would
/// quiet a signalling NaN; no model stores NaN scales, so the difference is only visible in the fixtures.
@inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2⁻²⁴. Both factors and the product are exact floats, and the product is
        // normal in binary32, so no float subnormal (and no flush-to-zero mode) is involved.
        return Float(bitPattern: sign | (Float(mantissa) * 0x1p-24).bitPattern)
    }
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
    }
    // Rebias the exponent from 15 to 127.
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
}

/// bfloat16 bits to binary32: bf16 is the upper half of a float, so this is exact for every pattern.
@inline(__always)
public func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Reads the little-endian f16 at `offset` (any alignment) as a float.
@inline(__always)
func loadHalf(_ base: UnsafeRawPointer, _ offset: Int) -> Float {
    halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// F32: one little-endian binary32 per 4-byte "block"; dequantizing is a copy.
public enum F32 {
    @inline(__always) public static var blockSize: Int { 1 }
    @inline(__always) public static var bytesPerBlock: Int { 4 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
        #if _endian(little)
        UnsafeMutableRawPointer(y).copyMemory(from: source, byteCount: blockCount * bytesPerBlock)
        #else
        for i in 0..<blockCount {
            y[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
        #endif
    }
}

/// F16: one little-endian IEEE binary16 per 2-byte "block".
public enum F16 {
    @inline(__always) public static var blockSize: Int { 1 }
    @inline(__always) public static var bytesPerBlock: Int { 2 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
        for i in 0..<blockCount { y[i] = loadHalf(source, 2 * i) }
    }
}

/// BF16: one little-endian bfloat16 (sign, 8-bit exponent, 7-bit mantissa) per 2-byte "block".
public enum BF16 {
    @inline(__always) public static var blockSize: Int { 1 }
    @inline(__always) public static var bytesPerBlock: Int { 2 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
        for i in 0..<blockCount {
            y[i] = bfloat16ToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }
}
