import XCTest
import Foundation
@testable import LongLMCore

/// `Parallel.threads` bounds every loop: under mpirun it is a rank's share of the node's cores.
final class ParallelTests: XCTestCase {
    private final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var running = 0, peak = 0
        var visits: [Int] = []
        func enter(_ i: Int) { lock.lock(); running += 1; peak = max(peak, running); visits.append(i); lock.unlock() }
        func leave() { lock.lock(); running -= 1; lock.unlock() }
    }

    func testEveryLoopVisitsEachItemOnceWithAtMostThreadsAtATime() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            for count in [0, 1, 2, 7, 64] {
                let counter = Counter()
                Parallel.forEach(count) { i in
                    counter.enter(i)
                    usleep(200)   // long enough for workers to overlap if more were running
                    counter.leave()
                }
                XCTAssertEqual(counter.visits.sorted(), Array(0..<count), "threads \(threads), count \(count)")
                XCTAssertLessThanOrEqual(counter.peak, threads, "threads \(threads), count \(count)")

                let workers = Counter()
                var seen = [Int]()
                let lock = NSLock()
                Parallel.forEachWorker(count) { next in
                    workers.enter(-1)
                    while let i = next() { lock.lock(); seen.append(i); lock.unlock(); usleep(100) }
                    workers.leave()
                }
                XCTAssertEqual(seen.sorted(), Array(0..<count))
                XCTAssertLessThanOrEqual(workers.visits.count, max(1, min(threads, count)))
                XCTAssertLessThanOrEqual(workers.peak, threads)
            }
        }
    }

    /// The persistent pool under many short jobs (decode runs ~200 per token), changing thread counts, and
    /// calls made from inside an item (run inline): every item runs exactly once and every call returns.
    func testManyShortJobsWithNestedCallsEachRunEveryItemOnce() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let lock = NSLock()
        for round in 0..<3000 {
            Parallel.threads = [2, 3, 2, 4][round % 4]
            let count = 1 + round % 9
            var visits = [Int](repeating: 0, count: count * 3)
            Parallel.forEach(count) { i in
                Parallel.forEach(3) { j in
                    lock.lock(); visits[i * 3 + j] += 1; lock.unlock()
                }
            }
            if visits != [Int](repeating: 1, count: count * 3) {
                XCTFail("round \(round): visits \(visits)")
                return
            }
        }
    }
}
