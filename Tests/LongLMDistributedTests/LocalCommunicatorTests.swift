import Foundation
import XCTest
@testable import LongLMDistributed

final class LocalCommunicatorTests: XCTestCase {
    func testRingExchangeDeliversEveryBlockForOneToEightRanks() throws {
        for size in 1...8 {
            try LocalCommunicator.run(size: size) { try CommunicatorChecks.ringExchange($0) }
        }
    }

    func testBroadcastFromEveryRootReachesEveryRank() throws {
        for size in [1, 2, 5] {
            try LocalCommunicator.run(size: size) { try CommunicatorChecks.broadcastFromEveryRoot($0) }
        }
    }

    func testAllReduceSumAndMax() throws {
        for size in [1, 2, 3, 7] {
            try LocalCommunicator.run(size: size) { try CommunicatorChecks.allReduce($0) }
        }
    }

    func testBarrierReleasesNoRankBeforeAllArrived() throws {
        let arrived = Counter()
        try LocalCommunicator.run(size: 6) { comm in
            for round in 1...3 {
                usleep(UInt32(1000 * ((comm.rank * 7 + round) % 4))) // arrive in a different order each round
                arrived.increment()
                try comm.barrier(timeout: CommunicatorChecks.timeout)
                let seen = arrived.value
                guard seen >= 6 * round else { throw CheckFailure("rank \(comm.rank) left barrier \(round) after \(seen) arrivals") }
                try comm.barrier(timeout: CommunicatorChecks.timeout) // nobody starts the next round before all checked
            }
        }
    }

    func testBlockingSendAndReceiveAroundTheRing() throws {
        for size in [1, 2, 3, 4] {
            try LocalCommunicator.run(size: size) { try CommunicatorChecks.blockingSendReceive($0) }
        }
    }

    func testMessagesOnOneTagMatchInPostingOrder() throws {
        try LocalCommunicator.run(size: 2) { try CommunicatorChecks.messagesOnOneTagMatchInPostingOrder($0) }
    }

    func testReceiveTimesOutPromptlyNamingTheSilentPeer() throws {
        try LocalCommunicator.run(size: 3) { try CommunicatorChecks.receiveTimesOutNamingTheSilentPeer($0) }
    }

    func testWrongMessageSizeIsAnErrorNamingTheSender() throws {
        try LocalCommunicator.run(size: 2) { try CommunicatorChecks.wrongMessageSizeIsAnError($0) }
    }

    func testInvalidRankIsRejected() throws {
        try LocalCommunicator.run(size: 2) { try CommunicatorChecks.invalidRankIsRejected($0) }
    }

    func testErrorInOneRankStopsTheWaitingRanksAndIsRethrownWithItsRank() throws {
        let others = Collected()
        let start = Date()
        XCTAssertThrowsError(try LocalCommunicator.run(size: 4) { comm in
            do {
                switch comm.rank {
                case 2: throw CheckFailure("boom")
                case 0: try CommunicatorChecks.receiveSomething(comm, from: 2, timeout: 30)
                default: try comm.barrier(timeout: 30)
                }
            } catch let error as CommunicationError {
                others.append(comm.rank, error)
                throw error
            }
        }) { error in
            guard let failure = error as? LocalRankError else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.rank, 2)
            XCTAssertEqual((failure.error as? CheckFailure)?.message, "boom")
            XCTAssertTrue("\(failure)".contains("rank 2"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "waiting ranks must not sit out their 30 s timeouts")
        XCTAssertEqual(others.ranks, [0, 1, 3])
        for (rank, error) in others.errors {
            XCTAssertTrue("\(error)".contains("rank 2 failed: boom"), "rank \(rank): \(error)")
        }
    }

    func testAbortWakesEveryRankAndEndsOnlyTheAbortingThread() throws {
        let others = Collected()
        let start = Date()
        XCTAssertThrowsError(try LocalCommunicator.run(size: 3) { comm in
            if comm.rank == 1 { comm.abort("disk full", code: 3) }
            do {
                try comm.barrier(timeout: 30)
            } catch let error as CommunicationError {
                others.append(comm.rank, error)
                throw error
            }
        }) { error in
            guard let failure = error as? LocalRankError else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.rank, 1)
            XCTAssertTrue("\(failure)".contains("aborted by rank 1 with code 3: disk full"), "\(failure)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(others.ranks, [0, 2])
        for (rank, error) in others.errors {
            guard case .failed(_, let peer, let detail) = error else { XCTFail("rank \(rank): \(error)"); continue }
            XCTAssertEqual(peer, 1)
            XCTAssertEqual(detail, "aborted by rank 1: disk full")
        }
    }

    func testReceiveFromARankThatReturnedFailsAtOnce() throws {
        let start = Date()
        XCTAssertThrowsError(try LocalCommunicator.run(size: 2) { comm in
            if comm.rank == 0 { try CommunicatorChecks.receiveSomething(comm, from: 1, timeout: 30) }
        }) { error in
            XCTAssertEqual((error as? LocalRankError)?.rank, 0)
            XCTAssertTrue("\(error)".contains("rank 1 returned without sending"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}

// MARK: Checks shared with MPICommunicatorTests

struct CheckFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Behaviour every `Communicator` must show, written per rank (every rank of the group calls the same check).
/// A wrong result throws `CheckFailure` naming the rank, so it surfaces through `LocalCommunicator.run` or, under
/// mpirun, as that rank's test failure.
enum CommunicatorChecks {
    static let timeout = 20.0

    /// Per-rank block sizes: empty, odd, and above OpenMPI's 64 KiB eager limit (rendezvous path).
    static func blockSize(owner: Int) -> Int { [0, 1, 7, 4096, 65_537, 300, 200_003, 3][owner % 8] + owner / 8 }
    static func pattern(owner: Int, index: Int) -> UInt8 { UInt8(truncatingIfNeeded: owner &* 31 &+ index &* 7 &+ 1) }

    static func block(owner: Int) -> UnsafeMutableRawBufferPointer {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize(owner: owner), alignment: 64)
        for i in 0..<block.count { block[i] = pattern(owner: owner, index: i) }
        return block
    }

    static func verify(_ buffer: UnsafeRawBufferPointer, owner: Int, on rank: Int, _ what: String) throws {
        guard buffer.count == blockSize(owner: owner) else { throw CheckFailure("rank \(rank): \(what) has \(buffer.count) bytes") }
        if let bad = (0..<buffer.count).first(where: { buffer[$0] != pattern(owner: owner, index: $0) }) {
            throw CheckFailure("rank \(rank): \(what) from owner \(owner) differs at byte \(bad)")
        }
    }

    /// The ring-attention pattern: `size` steps of send-to-next / receive-from-previous, polling `test` while
    /// "computing" before `wait`, each block in a fresh stable allocation. Rank r holds owner (r - step)'s block at
    /// each step and ends with its own again (at size 1 it exchanges with itself).
    static func ringExchange(_ comm: Communicator, tag: Int = 1) throws {
        let (n, r) = (comm.size, comm.rank)
        var current = block(owner: r)
        defer { current.deallocate() }
        for step in 0..<n {
            let owner = ((r - step - 1) % n + n) % n
            let incoming = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize(owner: owner), alignment: 64)
            let exchange = try comm.startExchange(send: UnsafeRawBufferPointer(current), to: (r + 1) % n,
                                                  receive: incoming, from: (r - 1 + n) % n, tag: tag)
            var polls = 0
            while try !comm.test(exchange), polls < 5 { polls += 1; usleep(100) } // "compute" between polls
            try comm.wait(exchange, timeout: timeout)
            guard try comm.test(exchange) else { throw CheckFailure("rank \(r): test false after wait") }
            current.deallocate()
            current = incoming
            try verify(UnsafeRawBufferPointer(current), owner: owner, on: r, "ring step \(step)")
        }
    }

    static func broadcastFromEveryRoot(_ comm: Communicator) throws {
        for root in 0..<comm.size {
            let owner = 6 // 200 KB: several rendezvous fragments
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize(owner: owner), alignment: 64)
            defer { buffer.deallocate() }
            if comm.rank == root {
                for i in 0..<buffer.count { buffer[i] = pattern(owner: owner, index: i) }
            } else {
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
            }
            try comm.broadcast(buffer, root: root, timeout: timeout)
            try verify(UnsafeRawBufferPointer(buffer), owner: owner, on: comm.rank, "broadcast from root \(root)")
        }
    }

    /// Small integers in floats, so the sum is exact in any reduction order.
    static func allReduce(_ comm: Communicator) throws {
        let (n, r) = (comm.size, comm.rank)
        let count = 100_003
        let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { values.deallocate() }
        for i in 0..<count { values[i] = Float(r + 1) * Float(i % 7) }
        try comm.allReduce(values, operation: .sum, timeout: timeout)
        for i in 0..<count where values[i] != Float(i % 7) * Float(n * (n + 1) / 2) {
            throw CheckFailure("rank \(r): sum[\(i)] = \(values[i])")
        }
        // The largest comes from a different rank for each i; all negative so a zero-initialised max would fail.
        for i in 0..<count { values[i] = -Float((r + i) % n) - 1 }
        try comm.allReduce(values, operation: .max, timeout: timeout)
        for i in 0..<count where values[i] != -1 { throw CheckFailure("rank \(r): max[\(i)] = \(values[i])") }
    }

    /// Blocking calls round the ring, even ranks sending first and odd ranks receiving first, so a send that
    /// waits for its receiver (rendezvous) cannot deadlock.
    static func blockingSendReceive(_ comm: Communicator, tag: Int = 2) throws {
        let (n, r) = (comm.size, comm.rank)
        let from = (r - 1 + n) % n
        // The second round's blocks (owner % 8 == 6) are above the eager limit; a large send to oneself would
        // wait for a receive that is never posted, so one rank sends only the small one.
        for round in 0..<(n == 1 ? 1 : 2) {
            let (owner, fromOwner) = round == 0 ? (r, from) : (6 + 8 * r, 6 + 8 * from)
            let outgoing = block(owner: owner)
            let incoming = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize(owner: fromOwner), alignment: 64)
            defer { outgoing.deallocate(); incoming.deallocate() }
            if r % 2 == 0 {
                try comm.send(UnsafeRawBufferPointer(outgoing), to: (r + 1) % n, tag: tag, timeout: timeout)
                try comm.receive(incoming, from: from, tag: tag, timeout: timeout)
            } else {
                try comm.receive(incoming, from: from, tag: tag, timeout: timeout)
                try comm.send(UnsafeRawBufferPointer(outgoing), to: (r + 1) % n, tag: tag, timeout: timeout)
            }
            try verify(UnsafeRawBufferPointer(incoming), owner: fromOwner, on: r, "blocking receive \(round)")
        }
    }

    /// Rank 0 sends 1, 2, 3 on one tag; rank 1 posts three receives and waits for them last-first: the n-th
    /// receive posted gets the n-th message, whatever the order of waiting (MPI's non-overtaking rule).
    static func messagesOnOneTagMatchInPostingOrder(_ comm: Communicator, tag: Int = 3) throws {
        guard comm.size >= 2, comm.rank < 2 else { return }
        let empty = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        if comm.rank == 0 {
            for value in 1...3 as ClosedRange<Int32> {
                try withUnsafeBytes(of: value) { try comm.send($0, to: 1, tag: tag, timeout: timeout) }
            }
            for _ in 0..<3 { try comm.receive(empty, from: 1, tag: tag, timeout: timeout) } // rank 1's empty sends
        } else {
            let slots = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 3)
            defer { slots.deallocate() }
            let exchanges = try (0..<3).map { i in
                try comm.startExchange(send: UnsafeRawBufferPointer(empty), to: 0,
                                       receive: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(slots)[(4 * i)..<(4 * i + 4)]),
                                       from: 0, tag: tag)
            }
            for exchange in exchanges.reversed() { try comm.wait(exchange, timeout: timeout) }
            guard Array(slots) == [1, 2, 3] else { throw CheckFailure("rank 1 received \(Array(slots)), expected [1, 2, 3]") }
        }
    }

    /// Rank 0 waits 0.3 s for a message rank 1 never sends. Rank 1 stays alive in the barrier meanwhile.
    static func receiveTimesOutNamingTheSilentPeer(_ comm: Communicator, tag: Int = 99) throws {
        guard comm.size >= 2 else { return }
        if comm.rank == 0 {
            // Under MPI the unmatched receive stays posted: the buffer must outlive it, so it is never freed.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
            let start = Date()
            do {
                try comm.receive(buffer, from: 1, tag: tag, timeout: 0.3)
                throw CheckFailure("rank 0: receive from a silent peer returned")
            } catch CommunicationError.timeout(let operation, let peer, let seconds) {
                let elapsed = Date().timeIntervalSince(start)
                guard peer == 1, seconds == 0.3, elapsed >= 0.29, elapsed < 1.5 else {
                    throw CheckFailure("rank 0: timeout in \(operation) named peer \(String(describing: peer)) after \(elapsed) s")
                }
                let message = "\(CommunicationError.timeout(operation: operation, peer: peer, seconds: seconds))"
                guard message.contains("rank 1") else { throw CheckFailure("message does not name the peer: \(message)") }
            }
        }
        try comm.barrier(timeout: timeout)
    }

    /// Rank 0 sends 10 bytes where rank 1 expects 12, then 12 where rank 1 expects 10 (MPI: a truncation error
    /// inside an exchange, reported through MPI_ERR_IN_STATUS): both times rank 1 gets an error naming rank 0.
    static func wrongMessageSizeIsAnError(_ comm: Communicator, tag: Int = 5) throws {
        guard comm.size >= 2, comm.rank < 2 else { return try comm.barrier(timeout: timeout) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 12, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 1)
        let empty = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        if comm.rank == 0 {
            try comm.send(UnsafeRawBufferPointer(rebasing: buffer[..<10]), to: 1, tag: tag, timeout: timeout)
            try comm.send(UnsafeRawBufferPointer(buffer), to: 1, tag: tag, timeout: timeout)
            try comm.receive(empty, from: 1, tag: tag, timeout: timeout)
        } else {
            do {
                try comm.receive(buffer, from: 0, tag: tag, timeout: timeout)
                throw CheckFailure("rank 1: a 10-byte message filled a 12-byte receive")
            } catch CommunicationError.failed(_, let peer, let detail) {
                guard peer == 0, detail.contains("expected 12 bytes, received 10") else {
                    throw CheckFailure("rank 1: short message reported as peer \(String(describing: peer)): \(detail)")
                }
            }
            do {
                let exchange = try comm.startExchange(send: UnsafeRawBufferPointer(empty), to: 0,
                                                      receive: UnsafeMutableRawBufferPointer(rebasing: buffer[..<10]), from: 0, tag: tag)
                try comm.wait(exchange, timeout: timeout)
                throw CheckFailure("rank 1: a 12-byte message fitted a 10-byte receive")
            } catch CommunicationError.failed(_, let peer, let detail) {
                guard peer == 0 else { throw CheckFailure("rank 1: long message reported as peer \(String(describing: peer)): \(detail)") }
            }
        }
        try comm.barrier(timeout: timeout)
    }

    static func invalidRankIsRejected(_ comm: Communicator) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 4)
        defer { buffer.deallocate() }
        for bad in [-1, comm.size] {
            do {
                _ = try comm.startExchange(send: UnsafeRawBufferPointer(buffer), to: bad, receive: buffer, from: 0, tag: 6)
                throw CheckFailure("rank \(comm.rank): exchange with rank \(bad) accepted")
            } catch CommunicationError.invalidRank(let rank, let size) {
                guard rank == bad, size == comm.size else { throw CheckFailure("invalidRank(\(rank), size: \(size))") }
            }
        }
    }

    static func receiveSomething(_ comm: Communicator, from source: Int, timeout: Double) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 4)
        defer { buffer.deallocate() }
        try comm.receive(buffer, from: source, tag: 7, timeout: timeout)
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// Errors seen by the ranks that did not fail first.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [(rank: Int, error: CommunicationError)] = []
    func append(_ rank: Int, _ error: CommunicationError) { lock.lock(); seen.append((rank, error)); lock.unlock() }
    var errors: [(rank: Int, error: CommunicationError)] { lock.lock(); defer { lock.unlock() }; return seen.sorted { $0.rank < $1.rank } }
    var ranks: [Int] { errors.map(\.rank) }
}
