import Foundation

/// Progress of long work on stderr: tokens (or items) done, the rate and an ETA. On a terminal it is one
/// line rewritten in place; otherwise (a log file, a batch system) a plain line at most every `interval`
/// seconds, plus the final one. A quiet reporter prints nothing.
public final class ProgressReporter {
    /// Put before every line (the rank, under mpirun).
    nonisolated(unsafe) public static var linePrefix = ""
    public let label: String
    public let unit: String
    public let quiet: Bool
    let live: Bool
    let interval: Double
    let start = Date()
    var lastPrinted = Date.distantPast
    var lineOpen = false

    public init(label: String, unit: String = "tokens", quiet: Bool, interval: Double = 10,
                live: Bool = isatty(STDERR_FILENO) != 0) {
        self.label = label
        self.unit = unit
        self.quiet = quiet
        self.live = live
        self.interval = interval
    }

    /// The line shown for `done` of `total` after `seconds`.
    public static func line(label: String, unit: String, done: Int, total: Int, seconds: Double) -> String {
        let rate = Double(done) / max(seconds, 1e-9)
        let percent = total > 0 ? 100 * Double(done) / Double(total) : 100
        var line = String(format: "%@: %d/%d %@ (%.0f%%), %.1f %@/s", label, done, total, unit, percent, rate, unit)
        if done > 0 && done < total { line += ", ETA " + duration(Double(total - done) / rate) }
        else if done >= total { line += ", " + duration(seconds) }
        return line
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60)
            : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
    }

    public func update(done: Int, total: Int) {
        guard !quiet else { return }
        let now = Date()
        let finished = done >= total
        guard finished || now.timeIntervalSince(lastPrinted) >= (live ? 0.2 : interval) else { return }
        lastPrinted = now
        let text = Self.linePrefix + Self.line(label: label, unit: unit, done: done, total: total, seconds: now.timeIntervalSince(start))
        if live {
            write(text: "\r\u{1B}[K" + text + (finished ? "\n" : ""))
            lineOpen = !finished
        } else {
            write(text: text + "\n")
        }
    }

    /// Ends a live line so that the next message starts on its own line.
    public func end() {
        if lineOpen { write(text: "\n"); lineOpen = false }
    }

    /// A message on its own line (closing a live progress line first).
    public func message(_ text: String) {
        end()
        write(text: Self.linePrefix + text + "\n")
    }

    func write(text: String) { FileHandle.standardError.write(text.data(using: .utf8)!) }
}
