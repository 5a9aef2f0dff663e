import Foundation

/// A lengths x depths grid of scores drawn as an SVG heatmap: prompt lengths on x, needle depths on y
/// (0% at the top), colour from red (0) through yellow to green (1), grey for cells not yet measured.
/// Every cell is a `<rect class="cell">` with a tooltip giving its numbers.
public struct Heatmap {
    public var title: String
    public var lengths: [Int]
    public var depths: [Double]
    /// scores[d][l]: the score at depths[d] and lengths[l], in 0...1, or nil if not measured.
    public var scores: [[Double?]]

    public init(title: String, lengths: [Int], depths: [Double], scores: [[Double?]]) {
        precondition(scores.count == depths.count && scores.allSatisfy { $0.count == lengths.count })
        self.title = title
        self.lengths = lengths
        self.depths = depths
        self.scores = scores
    }

    /// The colour of a score: red - yellow - green.
    public static func colour(_ score: Double?) -> String {
        guard let score else { return "#d0d0d0" }
        let s = min(1, max(0, score))
        let (r, g): (Double, Double) = s < 0.5 ? (1, 2 * s) : (2 * (1 - s), 1)
        return String(format: "#%02x%02x%02x", Int(r * 215 + 20), Int(g * 180 + 40), 60)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func lengthLabel(_ n: Int) -> String {
        n >= 1000 && n % 1000 == 0 ? "\(n / 1000)k" : n >= 1000 ? String(format: "%.1fk", Double(n) / 1000) : "\(n)"
    }

    public func svg() -> String {
        let cellWidth = 56, cellHeight = 28, left = 70, top = 48, legendHeight = 50
        // Wide enough for the grid, the legend and the title (about 7.5 px per character at 14 px).
        let width = max(left + cellWidth * lengths.count + 20, left + 11 * 18 + 90, title.count * 15 / 2 + 20)
        let height = top + cellHeight * depths.count + 40 + legendHeight
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
        <text x="\(width / 2)" y="20" text-anchor="middle" font-size="14">\(Self.escape(title))</text>

        """
        for (d, depth) in depths.enumerated() {
            let y = top + d * cellHeight
            out += "<text x=\"\(left - 6)\" y=\"\(y + cellHeight / 2 + 4)\" text-anchor=\"end\">\(Int((depth * 100).rounded()))%</text>\n"
            for (l, length) in lengths.enumerated() {
                let x = left + l * cellWidth
                let score = scores[d][l]
                let tip = "\(length) tokens, depth \(Int((depth * 100).rounded()))%: " + (score.map { String(format: "score %.2f", $0) } ?? "not measured")
                out += "<rect class=\"cell\" x=\"\(x)\" y=\"\(y)\" width=\"\(cellWidth - 1)\" height=\"\(cellHeight - 1)\" fill=\"\(Self.colour(score))\"><title>\(Self.escape(tip))</title></rect>\n"
                if let score {
                    out += "<text x=\"\(x + cellWidth / 2)\" y=\"\(y + cellHeight / 2 + 4)\" text-anchor=\"middle\" font-size=\"10\">\(String(format: "%.2f", score))</text>\n"
                }
            }
        }
        let axisY = top + depths.count * cellHeight
        for (l, length) in lengths.enumerated() {
            out += "<text x=\"\(left + l * cellWidth + cellWidth / 2)\" y=\"\(axisY + 16)\" text-anchor=\"middle\">\(Self.lengthLabel(length))</text>\n"
        }
        out += "<text x=\"\(left + cellWidth * lengths.count / 2)\" y=\"\(axisY + 32)\" text-anchor=\"middle\">prompt length (tokens)</text>\n"
        out += "<text x=\"14\" y=\"\(top + cellHeight * depths.count / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(top + cellHeight * depths.count / 2))\">needle depth</text>\n"
        // Legend: 0 .. 1 in eleven swatches.
        let legendY = axisY + 44
        for i in 0...10 {
            out += "<rect x=\"\(left + i * 18)\" y=\"\(legendY)\" width=\"18\" height=\"10\" fill=\"\(Self.colour(Double(i) / 10))\"/>\n"
        }
        out += "<text x=\"\(left - 6)\" y=\"\(legendY + 9)\" text-anchor=\"end\">0</text>\n"
        out += "<text x=\"\(left + 11 * 18 + 4)\" y=\"\(legendY + 9)\">1 (score)</text>\n"
        out += "</svg>\n"
        return out
    }
}
