/// exp over a row with AVX-512-width SIMD: exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 split
/// Cody-Waite style into a high and low part, exp(r) by its Taylor series to r^7/7! (|r| <= ln2/2, relative
/// error below 2e-7). Inputs below -87.3 (including -inf from masking) give exactly 0.
public enum VectorExp {
    public typealias Vector = SIMD16<Float>

    @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let log2e: Float = 1.442_695_040_888_963_4
        let ln2High: Float = 0.693_145_751_953_125, ln2Low: Float = 1.428_606_765_330_187e-06
        // Adding 1.5 * 2^23 rounds to the nearest integer in float arithmetic, and leaves that integer in the
        // low mantissa bits (generic SIMD rounding and int conversion are not vectorised by the compiler).
        let magic: Float = 12_582_912
        // Clamp with masked replace: pointwiseMin/Max are not vectorised by the compiler.
        var clamped = x
        clamped.replace(with: 88.7, where: x .> 88.7)
        clamped.replace(with: -87.3, where: x .< -87.3)
        let shifted = clamped * log2e + magic
        let n = shifted - magic
        let r = clamped - n * ln2High - n * ln2Low
        // Horner form of 1 + r + r^2/2! + ... + r^7/7!
        var p = Vector(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(Vector(repeating: magic), to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: Vector.self)
        var result = p * scale
        result.replace(with: 0, where: x .< -87.3)
        return result
    }

    /// row[c] = exp(row[c] - shift) for c in 0..<count; returns the sum of the results.
    @inline(__always)
    public static func expShiftedInPlace(_ row: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        var sums = Vector(repeating: 0)
        var c = 0
        let raw = UnsafeMutableRawPointer(row)
        while c + 16 <= count {
            let x = raw.loadUnaligned(fromByteOffset: c * 4, as: Vector.self) - shift
            let e = exp(x)
            raw.storeBytes(of: e, toByteOffset: c * 4, as: Vector.self)
            sums += e
            c += 16
        }
        var total = sums.sum()
        if c < count {
            var x = Vector(repeating: -.infinity)
            for l in 0..<(count - c) { x[l] = row[c + l] - shift }
            let e = exp(x)
            for l in 0..<(count - c) { row[c + l] = e[l]; total += e[l] }
        }
        return total
    }

    /// The largest of row[0..<count] (-inf for an empty or all -inf row).
    @inline(__always)
    public static func maximum(_ row: UnsafePointer<Float>, count: Int) -> Float {
        var m = Vector(repeating: -.infinity)
        var c = 0
        let raw = UnsafeRawPointer(row)
        while c + 16 <= count {
            let v = raw.loadUnaligned(fromByteOffset: c * 4, as: Vector.self)
            m.replace(with: v, where: v .> m)
            c += 16
        }
        var result = m.max()
        while c < count { result = Swift.max(result, row[c]); c += 1 }
        return result
    }
}
