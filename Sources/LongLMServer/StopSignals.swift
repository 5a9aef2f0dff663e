import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The write end of the pipe the signal handler writes to (a handler may only call async-signal-safe functions,
/// so it writes the signal's number and a thread reads it).
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Stop requests by signal (SIGTERM, SIGINT) delivered to ordinary code: a plain C handler writes the signal's
/// number to a pipe, and a thread calls `handler` for each. (Dispatch's signal sources did not fire here on Linux.)
public enum StopSignals {
    /// Installs the handler for `numbers`; call once.
    public static func watch(_ numbers: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return }
        signalPipeWriteEnd = ends[1]
        for number in numbers {
            _ = signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(signalPipeWriteEnd, &byte, 1)
            }
        }
        let readEnd = ends[0]
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) == 1 { handler(Int32(byte)) }
        }
    }
}
