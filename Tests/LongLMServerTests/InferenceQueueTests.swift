import XCTest
import Foundation
@testable import LongLMServer

final class InferenceQueueTests: XCTestCase {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var entries: [String] = []
        func add(_ s: String) { lock.withLock { entries.append(s) } }
    }

    func testJobsRunInArrivalOrderAndAFullQueueRefuses() throws {
        let queue = InferenceQueue(capacity: 2)
        let log = Log()
        let gate = DispatchSemaphore(value: 0)
        let job = { (name: String) in InferenceJob(work: { _ in log.add(name); if name == "a" { gate.wait() } }, drop: { log.add("dropped " + name) }) }
        XCTAssertTrue(queue.submit(job("a")))
        let runner = Thread { try? queue.run(idleInterval: 60) {} }
        runner.start()
        while log.entries.isEmpty { usleep(1000) }   // "a" is running and holds the thread
        XCTAssertTrue(queue.submit(job("b")))
        XCTAssertTrue(queue.submit(job("c")))
        XCTAssertFalse(queue.submit(job("d")), "two are waiting: the queue is full")
        XCTAssertEqual(queue.depth, 2)
        gate.signal()
        while log.entries.count < 3 { usleep(1000) }
        XCTAssertEqual(log.entries, ["a", "b", "c"])
        queue.close()
        XCTAssertFalse(queue.submit(job("e")))
    }

    func testCloseCancelsTheRunningJobAndDropsTheWaitingOnes() throws {
        let queue = InferenceQueue(capacity: 4)
        let log = Log()
        let running = InferenceJob(work: { job in
            log.add("started")
            while !job.isCancelled { usleep(1000) }
            log.add("cancelled")
        }, drop: { log.add("dropped running") })
        XCTAssertTrue(queue.submit(running))
        XCTAssertTrue(queue.submit(InferenceJob(work: { _ in log.add("ran waiting") }, drop: { log.add("dropped waiting") })))
        let finished = DispatchSemaphore(value: 0)
        let runner = Thread { try? queue.run(idleInterval: 60) {}; finished.signal() }
        runner.start()
        while log.entries.isEmpty { usleep(1000) }
        queue.close()
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(Set(log.entries), ["started", "cancelled", "dropped waiting"])
    }

    func testIdleCallsComeWhileNothingWaits() throws {
        let queue = InferenceQueue(capacity: 1)
        let idles = Log()
        let thread = Thread {
            try? queue.run(idleInterval: 0.01) {
                idles.add("idle")
                if idles.entries.count == 3 { queue.close() }
            }
        }
        thread.start()
        let deadline = Date().addingTimeInterval(10)
        while !queue.isClosed && Date() < deadline { usleep(1000) }
        XCTAssertTrue(queue.isClosed)
        XCTAssertEqual(idles.entries.count, 3)
    }
}
