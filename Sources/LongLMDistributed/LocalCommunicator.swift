import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ranks as threads of one process, for testing distributed code without `mpirun`.
///
/// All ranks of one `run` share a mailbox: a lock + condition variable over messages keyed by
/// (source, destination, tag), FIFO per key like MPI's non-overtaking rule (the n-th receive posted on a key
/// gets the n-th message sent on it). Sends copy the bytes at once and never block; receives are delivered by
/// `test`/`wait`. Collectives go through the same mailbox on a separate key space (root or rank 0 gathers and
/// scatters). When one rank throws or aborts, every rank waiting in (or later calling) the communicator gets
/// `CommunicationError.failed` naming it, the way `mpirun` tears down the whole job.
public final class LocalCommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let mailbox: LocalMailbox
    private var thread: pthread_t?

    private init(rank: Int, size: Int, mailbox: LocalMailbox) {
        self.rank = rank
        self.size = size
        self.mailbox = mailbox
    }

    /// Runs `body` on `size` threads, one communicator each; returns when every thread has ended and throws
    /// the first failure (`LocalRankError`, naming the rank; a rank's `abort` counts as its failure).
    public static func run(size: Int, body: @escaping (LocalCommunicator) throws -> Void) throws {
        guard size >= 1 else { throw CommunicationError.invalidRank(0, size: size) }
        let mailbox = LocalMailbox(size: size)
        var threads: [pthread_t] = []
        for rank in 0..<size {
            let communicator = LocalCommunicator(rank: rank, size: size, mailbox: mailbox)
            let start = RankStart {
                communicator.thread = pthread_self()
                do {
                    try body(communicator)
                    mailbox.finish(rank: rank)
                } catch {
                    mailbox.fail(rank: rank, error: error, detail: "rank \(rank) failed: \(error)")
                }
            }
            var thread = pthread_t()
            let context = Unmanaged.passRetained(start).toOpaque()
            let status = pthread_create(&thread, nil, { context in
                Unmanaged<RankStart>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, context)
            guard status == 0 else {
                Unmanaged<RankStart>.fromOpaque(context).release()
                let error = CommunicationError.failed(operation: "start rank thread", peer: rank,
                                                      detail: "pthread_create returned \(status)")
                mailbox.fail(rank: rank, error: error, detail: "\(error)")
                break
            }
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        if let failure = mailbox.firstFailure { throw failure }
    }

    // MARK: Point to point

    public func startExchange(send: UnsafeRawBufferPointer, to destination: Int,
                              receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> PendingExchange {
        try checkRank(destination)
        try checkRank(source)
        try mailbox.post(Array(send), on: .init(source: rank, destination: destination, tag: tag), operation: "exchange")
        let ticket = mailbox.ticket(on: .init(source: source, destination: rank, tag: tag), into: receive, peer: source)
        return PendingExchange(peerSend: destination, peerReceive: source, state: ticket)
    }

    public func test(_ exchange: PendingExchange) throws -> Bool {
        try mailbox.poll(ticket(of: exchange), operation: "exchange")
    }

    public func wait(_ exchange: PendingExchange, timeout: Double) throws {
        try mailbox.wait(for: ticket(of: exchange), until: Deadline(timeout), operation: "exchange")
    }

    public func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int, timeout: Double) throws {
        try checkRank(destination)
        try mailbox.post(Array(buffer), on: .init(source: rank, destination: destination, tag: tag), operation: "send")
    }

    public func receive(_ buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int, timeout: Double) throws {
        try checkRank(source)
        try receive(into: buffer, on: .init(source: source, destination: rank, tag: tag),
                    until: Deadline(timeout), operation: "receive")
    }

    // MARK: Collectives

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int, timeout: Double) throws {
        try checkRank(root)
        if rank == root {
            for other in 0..<size where other != root {
                try mailbox.post(Array(buffer), on: collective(.broadcast, from: root, to: other), operation: "broadcast")
            }
        } else {
            try receive(into: buffer, on: collective(.broadcast, from: root, to: rank), until: Deadline(timeout),
                        operation: "broadcast")
        }
    }

    /// Rank 0 gathers every contribution, reduces in rank order (deterministic) and sends the result back.
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation, timeout: Double) throws {
        let deadline = Deadline(timeout)
        let bytes = UnsafeMutableRawBufferPointer(buffer)
        guard rank == 0 else {
            try mailbox.post(Array(bytes), on: collective(.reduceGather, from: rank, to: 0), operation: "allReduce")
            try receive(into: bytes, on: collective(.reduceResult, from: 0, to: rank), until: deadline, operation: "allReduce")
            return
        }
        var contribution = [Float](repeating: 0, count: buffer.count)
        for source in 1..<size {
            try contribution.withUnsafeMutableBytes {
                try receive(into: $0, on: collective(.reduceGather, from: source, to: 0), until: deadline, operation: "allReduce")
            }
            for i in 0..<buffer.count {
                switch operation {
                case .sum: buffer[i] += contribution[i]
                case .max: buffer[i] = Swift.max(buffer[i], contribution[i])
                }
            }
        }
        for destination in 1..<size {
            try mailbox.post(Array(bytes), on: collective(.reduceResult, from: 0, to: destination), operation: "allReduce")
        }
    }

    public func barrier(timeout: Double) throws {
        let deadline = Deadline(timeout)
        let empty = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        if rank == 0 {
            for source in 1..<size {
                try receive(into: empty, on: collective(.barrierArrive, from: source, to: 0), until: deadline, operation: "barrier")
            }
            for destination in 1..<size {
                try mailbox.post([], on: collective(.barrierRelease, from: 0, to: destination), operation: "barrier")
            }
        } else {
            try mailbox.post([], on: collective(.barrierArrive, from: rank, to: 0), operation: "barrier")
            try receive(into: empty, on: collective(.barrierRelease, from: 0, to: rank), until: deadline, operation: "barrier")
        }
    }

    /// Records the abort as this rank's failure, wakes every rank (their waits throw "aborted by rank r"), and
    /// ends this rank's thread with `pthread_exit`, which `run` joins like a normal return.
    ///
    /// `-> Never` leaves no clean way back to `run`: the thread is ended in place, so `defer` blocks and
    /// releases of objects on this thread's stack are skipped (a leak, acceptable in tests). Must be called on
    /// the rank's own thread (the one `run` started), never from a thread pool.
    public func abort(_ message: String, code: Int32) -> Never {
        guard let thread, pthread_equal(thread, pthread_self()) != 0 else {
            fatalError("LocalCommunicator.abort called off rank \(rank)'s thread: \(message)")
        }
        FileHandle.standardError.write(Data("[rank \(rank)] abort (code \(code)): \(message)\n".utf8))
        let error = CommunicationError.failed(operation: "abort", peer: rank,
                                              detail: "aborted by rank \(rank) with code \(code): \(message)")
        mailbox.fail(rank: rank, error: error, detail: "aborted by rank \(rank): \(message)")
        pthread_exit(nil)
    }

    // MARK: Helpers

    private func checkRank(_ other: Int) throws {
        guard (0..<size).contains(other) else { throw CommunicationError.invalidRank(other, size: size) }
    }

    private func ticket(of exchange: PendingExchange) throws -> LocalMailbox.Ticket {
        guard let ticket = exchange.state as? LocalMailbox.Ticket, ticket.mailbox === mailbox else {
            throw CommunicationError.failed(operation: "exchange", peer: exchange.peerReceive,
                                            detail: "the exchange was not started by this LocalCommunicator group")
        }
        return ticket
    }

    private func receive(into buffer: UnsafeMutableRawBufferPointer, on channel: LocalMailbox.Channel,
                         until deadline: Deadline, operation: String) throws {
        let ticket = mailbox.ticket(on: channel, into: buffer, peer: channel.source)
        try mailbox.wait(for: ticket, until: deadline, operation: operation)
    }

    private func collective(_ step: LocalMailbox.CollectiveStep, from source: Int, to destination: Int) -> LocalMailbox.Channel {
        .init(source: source, destination: destination, tag: step.rawValue, collective: true)
    }
}

/// The first failure of a `LocalCommunicator.run`: which rank, and what it threw.
public struct LocalRankError: Error, CustomStringConvertible {
    public let rank: Int
    public let error: Error
    public var description: String { "rank \(rank): \(error)" }
}

private final class RankStart {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// A point in time `timeout` seconds from now; infinite or huge timeouts never expire.
private struct Deadline {
    let seconds: Double
    let date: Date
    init(_ timeout: Double) {
        seconds = timeout
        date = timeout.isFinite && timeout < 1e9 ? Date(timeIntervalSinceNow: Swift.max(0, timeout)) : .distantFuture
    }
}

/// Shared state of one `LocalCommunicator.run`. Every member is used under `condition`'s lock.
private final class LocalMailbox {
    struct Channel: Hashable {
        var source: Int, destination: Int, tag: Int
        var collective = false
    }
    enum CollectiveStep: Int { case broadcast, reduceGather, reduceResult, barrierArrive, barrierRelease }

    /// One posted receive: the n-th receive on a channel takes the n-th message sent on it.
    final class Ticket {
        let mailbox: LocalMailbox
        let channel: Channel
        let sequence: Int
        let buffer: UnsafeMutableRawBufferPointer
        let peer: Int
        var delivered = false
        init(mailbox: LocalMailbox, channel: Channel, sequence: Int, buffer: UnsafeMutableRawBufferPointer, peer: Int) {
            self.mailbox = mailbox
            self.channel = channel
            self.sequence = sequence
            self.buffer = buffer
            self.peer = peer
        }
    }

    private struct Slot: Hashable {
        var channel: Channel
        var sequence: Int
    }

    let size: Int
    private let condition = NSCondition()
    private var messages: [Slot: [UInt8]] = [:]
    private var sent: [Channel: Int] = [:]
    private var posted: [Channel: Int] = [:]
    private var finished = Set<Int>()
    private var failure: LocalRankError?
    /// What other ranks are told once the job has failed: (failed rank, reason).
    private var stop: (rank: Int, detail: String)?

    init(size: Int) { self.size = size }

    var firstFailure: LocalRankError? { locked { failure } }

    func post(_ bytes: [UInt8], on channel: Channel, operation: String) throws {
        try locked {
            try throwIfStopped(operation: operation)
            let sequence = sent[channel, default: 0]
            sent[channel] = sequence + 1
            messages[Slot(channel: channel, sequence: sequence)] = bytes
            condition.broadcast()
        }
    }

    func ticket(on channel: Channel, into buffer: UnsafeMutableRawBufferPointer, peer: Int) -> Ticket {
        locked {
            let sequence = posted[channel, default: 0]
            posted[channel] = sequence + 1
            return Ticket(mailbox: self, channel: channel, sequence: sequence, buffer: buffer, peer: peer)
        }
    }

    func poll(_ ticket: Ticket, operation: String) throws -> Bool {
        try locked { try deliver(ticket, operation: operation) }
    }

    func wait(for ticket: Ticket, until deadline: Deadline, operation: String) throws {
        try locked {
            while try !deliver(ticket, operation: operation) {
                if Date() >= deadline.date {
                    throw CommunicationError.timeout(operation: operation, peer: ticket.peer, seconds: deadline.seconds)
                }
                _ = condition.wait(until: deadline.date)
            }
        }
    }

    func finish(rank: Int) {
        locked {
            finished.insert(rank)
            condition.broadcast()
        }
    }

    func fail(rank: Int, error: Error, detail: String) {
        locked {
            if failure == nil {
                failure = LocalRankError(rank: rank, error: error)
                stop = (rank, detail)
            }
            finished.insert(rank)
            condition.broadcast()
        }
    }

    // MARK: Under the lock

    private func deliver(_ ticket: Ticket, operation: String) throws -> Bool {
        if ticket.delivered { return true }
        try throwIfStopped(operation: operation)
        let slot = Slot(channel: ticket.channel, sequence: ticket.sequence)
        guard let bytes = messages.removeValue(forKey: slot) else {
            // A rank that returned has posted everything it ever will.
            if finished.contains(ticket.channel.source) {
                throw CommunicationError.failed(operation: operation, peer: ticket.peer,
                                                detail: "rank \(ticket.peer) returned without sending the awaited message")
            }
            return false
        }
        guard bytes.count == ticket.buffer.count else {
            throw CommunicationError.failed(operation: operation, peer: ticket.peer,
                                            detail: "expected \(ticket.buffer.count) bytes, received \(bytes.count)")
        }
        if !bytes.isEmpty { bytes.withUnsafeBytes { ticket.buffer.copyMemory(from: $0) } }
        ticket.delivered = true
        return true
    }

    private func throwIfStopped(operation: String) throws {
        if let stop {
            throw CommunicationError.failed(operation: operation, peer: stop.rank, detail: stop.detail)
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
}
