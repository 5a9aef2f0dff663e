import CLongLMKernels
import Foundation

/// Our worker threads: matrix products split by output rows, attention items, dequantization. OpenBLAS runs
/// one thread per call inside them (set at start-up), so `threads` bounds the whole parallelism of a process:
/// every loop here runs at most `threads` workers at once (under mpirun, a rank's share of the node's cores),
/// never the system queue's full width.
public enum Parallel {
    nonisolated(unsafe) public static var threads: Int = System.coreCount

    /// `body(i)` for i in 0..<count, at most `threads` at a time (the calling thread and up to `threads - 1`
    /// persistent workers, CLongLMKernels' pool); returns when all are done. A call from inside an item runs
    /// inline.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var item = body
            withUnsafeMutablePointer(to: &item) { context in
                longlm_pool_run(Int32(threads), Int64(count), { context, i in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                }, context)
            }
        }
    }

    /// Runs up to `threads` workers over items 0..<count handed out one at a time (so uneven items balance).
    /// Each worker calls `body(next)` once and takes items with `next()` until it returns nil: per-worker
    /// set-up (scratch buffers) happens once per worker, not once per item.
    public static func forEachWorker(_ count: Int, _ body: (_ next: () -> Int?) -> Void) {
        if count <= 0 { return }
        let lock = NSLock()
        var taken = 0
        let next: () -> Int? = {
            lock.lock()
            defer { lock.unlock() }
            guard taken < count else { return nil }
            taken += 1
            return taken - 1
        }
        let workers = min(max(1, threads), count)
        if workers == 1 { body(next); return }
        forEach(workers) { _ in body(next) }
    }

    /// Splits 0..<total into at most `threads` contiguous ranges and runs them in parallel.
    public static func forRanges(_ total: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(threads, total / max(1, minimumPerChunk)))
        if chunks == 1 { body(0..<total); return }
        let per = (total + chunks - 1) / chunks
        forEach(chunks) { c in
            let lo = c * per, hi = min(total, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }
}

public enum System {
    public static var coreCount: Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }
}
#if canImport(Glibc)
import Glibc
#endif
