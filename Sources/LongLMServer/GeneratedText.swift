/// The text of the generated tokens as it streams, with the request's stop strings applied: text is released
/// only in whole UTF-8 characters and only once it cannot be the start of a stop string, and a stop string
/// ends the text before it (the stop string itself is never sent, as in OpenAI's API and llama.cpp's server).
struct GeneratedText {
    private let stops: [[UInt8]]
    /// Every byte accepted so far (cut before a stop string once one is seen).
    private(set) var bytes: [UInt8] = []
    /// Bytes already released to the client.
    private var released = 0
    /// Whether a stop string was seen.
    private(set) var stopped = false

    init(stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds a token's bytes; returns the text that can be released now ("" if none).
    mutating func add(_ piece: [UInt8]) -> String {
        guard !stopped else { return "" }
        let previous = bytes.count
        bytes += piece
        if let cut = firstStop(endingAfter: previous) {
            bytes.removeSubrange(cut...)
            stopped = true
            return release(upTo: bytes.count)
        }
        return release(upTo: completeCharacters(upTo: bytes.count - heldForStop()))
    }

    /// Everything not yet released (at the end of generation).
    mutating func finish() -> String { release(upTo: bytes.count) }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func release(upTo end: Int) -> String {
        guard end > released else { return "" }
        defer { released = end }
        return String(decoding: bytes[released..<end], as: UTF8.self)
    }

    /// The earliest start of a stop string that ends after byte `previous` (earlier ones were looked for before).
    private func firstStop(endingAfter previous: Int) -> Int? {
        var best: Int?
        for stop in stops where bytes.count >= stop.count {
            var i = max(0, previous - stop.count + 1)
            while i + stop.count <= bytes.count {
                if bytes[i] == stop[0] && bytes[i..<(i + stop.count)].elementsEqual(stop) { best = min(best ?? i, i); break }
                i += 1
            }
        }
        return best
    }

    /// How many trailing bytes could be the beginning of a stop string.
    private func heldForStop() -> Int {
        var held = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, bytes.count), to: held, by: -1)
            where bytes[(bytes.count - length)...].elementsEqual(stop[..<length]) {
                held = length
                break
            }
        }
        return held
    }

    /// The largest end <= `end` that does not split a UTF-8 character.
    private func completeCharacters(upTo end: Int) -> Int {
        var start = end
        var back = 0
        while start > released && back < 4 {
            let b = bytes[start - 1]
            if b & 0xC0 == 0x80 { start -= 1; back += 1; continue }   // continuation byte
            let length = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            return length == back + 1 ? end : start - 1
        }
        return end
    }
}
