/// The k largest values of a row, best first (ties: lower index first). For small k one pass with a threshold, so
/// a 262k-entry vocabulary costs about one comparison per entry; for large k (sampling with no top-k limit, where
/// the insertion would cost k per entry) one sort of the whole row, with the same order.
public enum TopK {
    /// Above this k, sorting the row beats inserting into the kept list.
    static let sortAbove = 256

    public static func indices(_ row: UnsafeBufferPointer<Float>, count k: Int) -> [Int32] {
        let k = min(k, row.count)
        if k <= 0 { return [] }
        if k > sortAbove {
            let order = Array(0..<row.count).sorted { (a: Int, b: Int) -> Bool in
                let x = row[a], y = row[b]
                return x > y || (x == y && a < b)
            }
            return order.prefix(k).map { Int32($0) }
        }
        var values = [Float](repeating: -.infinity, count: k)
        var ids = [Int32](repeating: -1, count: k)
        var threshold = -Float.infinity   // the smallest kept value once k are kept
        var filled = 0
        for i in 0..<row.count {
            let v = row[i]
            if filled == k && !(v > threshold) { continue }
            // Insert keeping descending order; equal values keep the earlier (lower) index first.
            var at = min(filled, k - 1)
            while at > 0 && v > values[at - 1] { at -= 1 }
            if filled < k { filled += 1 }
            var j = filled - 1
            while j > at { values[j] = values[j - 1]; ids[j] = ids[j - 1]; j -= 1 }
            values[at] = v; ids[at] = Int32(i)
            if filled == k { threshold = values[k - 1] }
        }
        return Array(ids.prefix(filled))
    }
}
