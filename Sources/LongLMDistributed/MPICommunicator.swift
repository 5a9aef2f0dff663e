import CMPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// MPI's lifetime in this process: `MPI_Init_thread` once (on first `world()`), `MPI_Finalize` at exit.
///
/// Thread level is `MPI_THREAD_FUNNELED`: only the thread that called `world()` first may call MPI afterwards
/// (compute threads never do; `MPICommunicator` checks this and throws instead of corrupting MPI state).
public enum MPIEnvironment {
    /// True when this process was started by a launcher (`mpirun`: OMPI_COMM_WORLD_SIZE; MPICH/hydra or Slurm
    /// PMI2: PMI_SIZE; `srun --mpi=pmix`: PMIX_RANK). A plain run should then skip MPI entirely: OpenMPI's
    /// singleton init would otherwise start a helper daemon for a job of one.
    /// A job of one rank (`mpirun -np 1`) also runs as a plain process: a ring of one rank would run the whole
    /// sequence as one forward call, where one process prefills it in batches (the same results, a fraction of
    /// the activations: 2.4 GiB at 128k tokens on Gemma 3 270M).
    public static var isUnderMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        guard ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains(where: { environment[$0] != nil }) else { return false }
        let size = (environment["OMPI_COMM_WORLD_SIZE"] ?? environment["PMI_SIZE"]).flatMap(Int.init)
        return size != 1
    }

    /// The world communicator if this process has joined an MPI job (nil before `world()` and for plain runs).
    public static var current: MPICommunicator? {
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.world
    }

    /// The communicator over all ranks (MPI_COMM_WORLD with MPI_ERRORS_RETURN); initialises MPI on first use.
    public static func world() throws -> MPICommunicator {
        state.lock.lock()
        defer { state.lock.unlock() }
        if let world = state.world { return world }
        guard !state.finalized else {
            throw CommunicationError.failed(operation: "MPI_Init_thread", peer: nil, detail: "MPI was already finalized in this process")
        }
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, longlm_mpi_thread_funneled(), &provided), "MPI_Init_thread")
            atexit { MPIEnvironment.finalize() }
            guard provided >= longlm_mpi_thread_funneled() else {
                throw CommunicationError.failed(operation: "MPI_Init_thread", peer: nil,
                                                detail: "the MPI library provides thread level \(provided), we need MPI_THREAD_FUNNELED")
            }
        }
        let world = try MPICommunicator(comm: longlm_mpi_comm_world())
        state.world = world
        return world
    }

    /// How long `finalize` may block before the process gives up and exits with code 1.
    nonisolated(unsafe) public static var finalizeTimeout = 60.0

    /// Finalizes MPI if it was initialised and not yet finalized (also registered with `atexit`). Every rank
    /// must get here on success; on an error path call `abort` instead. `MPI_Finalize` synchronises with all
    /// ranks, so with a stopped or hung peer it never returns (seen with OpenMPI 4.1.4): after
    /// `finalizeTimeout` seconds a watchdog prints why and `_exit(1)`s, and mpirun then ends the whole job.
    public static func finalize() {
        state.lock.lock()
        defer { state.lock.unlock() }
        var initialized: Int32 = 0, finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 {
            let returned = DispatchSemaphore(value: 0)
            let (rank, timeout) = (state.world?.rank, finalizeTimeout)
            Thread.detachNewThread {
                let deadline: DispatchTime = timeout.isFinite && timeout < 1e9 ? .now() + max(0, timeout) : .distantFuture
                guard returned.wait(timeout: deadline) == .timedOut else { return }
                let prefix = rank.map { "[rank \($0)] " } ?? ""
                FileHandle.standardError.write(Data("\(prefix)MPI_Finalize still waiting after \(timeout) s (a rank stopped or did not finish); exiting with code 1\n".utf8))
                _exit(1)
            }
            MPI_Finalize()
            returned.signal()
        }
        state.finalized = true
        state.world = nil
    }

    /// Turns an MPI return code into `CommunicationError.failed` carrying `MPI_Error_string`.
    static func check(_ code: Int32, _ operation: String, peer: Int? = nil) throws {
        guard code != longlm_mpi_success() else { return }
        throw CommunicationError.failed(operation: operation, peer: peer, detail: errorString(code))
    }

    static func errorString(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(longlm_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &text, &length) == longlm_mpi_success() else { return "MPI error \(code)" }
        return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) + " (MPI error \(code))"
    }

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var world: MPICommunicator?
        var finalized = false
    }
    private static let state = State()
}

/// `Communicator` over an MPI communicator. Every wait is a loop of `MPI_Testall` with a short sleep until
/// done or the deadline, and collectives are the nonblocking ones (`MPI_Ibcast`, `MPI_Iallreduce`,
/// `MPI_Ibarrier`), so a stopped or dead peer ends in `CommunicationError.timeout` instead of a hang
/// (OpenMPI 4.1 has no failure detection; a blocking call would wait forever). The loop is also what drives
/// progress of large (rendezvous) transfers: MPI only moves data while some MPI call runs.
///
/// After a timeout the operation may still be in flight inside MPI and its buffers stay reserved: the only safe
/// continuation is `abort`.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let comm: MPI_Comm
    private let tagUpperBound: Int
    private let owner = pthread_self()
    /// Largest single MPI message: counts are `int` in MPI 3 (OpenMPI 4.1 has no large-count calls), so bigger
    /// buffers travel as several messages, matched in posting order. Lowered in tests to exercise the split.
    var maxMessageBytes = 1 << 30

    init(comm: MPI_Comm) throws {
        self.comm = comm
        try MPIEnvironment.check(MPI_Comm_set_errhandler(comm, longlm_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try MPIEnvironment.check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank")
        try MPIEnvironment.check(MPI_Comm_size(comm, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
        var value: UnsafeMutableRawPointer?
        var found: Int32 = 0
        try MPIEnvironment.check(MPI_Comm_get_attr(comm, longlm_mpi_tag_ub(), &value, &found), "MPI_Comm_get_attr(MPI_TAG_UB)")
        // The attribute value is a pointer to the int; the standard guarantees at least 32767.
        tagUpperBound = found != 0 ? Int(value!.load(as: Int32.self)) : 32767
    }

    // MARK: Point to point

    public func startExchange(send: UnsafeRawBufferPointer, to destination: Int,
                              receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> PendingExchange {
        let requests = try postSendAndReceive(send: send, to: destination, receive: receive, from: source, tag: tag,
                                              operation: "exchange")
        return PendingExchange(peerSend: destination, peerReceive: source, state: requests)
    }

    public func test(_ exchange: PendingExchange) throws -> Bool {
        try testAll(requests(of: exchange), operation: "exchange")
    }

    public func wait(_ exchange: PendingExchange, timeout: Double) throws {
        try waitAll(requests(of: exchange), timeout: timeout, operation: "exchange", peer: exchange.peerReceive)
    }

    public func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int, timeout: Double) throws {
        let requests = try postSendAndReceive(send: buffer, to: destination, receive: nil, from: nil, tag: tag, operation: "send")
        try waitAll(requests, timeout: timeout, operation: "send", peer: destination)
    }

    public func receive(_ buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int, timeout: Double) throws {
        let requests = try postSendAndReceive(send: nil, to: nil, receive: buffer, from: source, tag: tag, operation: "receive")
        try waitAll(requests, timeout: timeout, operation: "receive", peer: source)
    }

    // MARK: Collectives

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int, timeout: Double) throws {
        try checkCaller("broadcast")
        try checkRank(root)
        let pieces = split(buffer.count, limit: maxMessageBytes)
        let requests = MPIRequests(capacity: pieces.count)
        for piece in pieces {
            try MPIEnvironment.check(MPI_Ibcast(buffer.baseAddress.map { $0 + piece.offset }, Int32(piece.count),
                                                longlm_mpi_byte(), Int32(root), comm, requests.next(peer: root)),
                                     "broadcast", peer: root)
        }
        try waitAll(requests, timeout: timeout, operation: "broadcast", peer: rank == root ? onlyOtherRank : root)
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation, timeout: Double) throws {
        try checkCaller("allReduce")
        let op = operation == .sum ? longlm_mpi_sum() : longlm_mpi_max()
        let pieces = split(buffer.count, limit: maxMessageBytes / MemoryLayout<Float>.stride)
        let requests = MPIRequests(capacity: pieces.count)
        for piece in pieces {
            try MPIEnvironment.check(MPI_Iallreduce(longlm_mpi_in_place(), buffer.baseAddress.map { $0 + piece.offset },
                                                    Int32(piece.count), longlm_mpi_float(), op, comm, requests.next(peer: nil)),
                                     "allReduce")
        }
        try waitAll(requests, timeout: timeout, operation: "allReduce", peer: onlyOtherRank)
    }

    /// The rank a collective that times out must be waiting for when there are exactly two; with more, a
    /// collective cannot tell which rank is missing.
    private var onlyOtherRank: Int? { size == 2 ? 1 - rank : nil }

    public func barrier(timeout: Double) throws {
        try checkCaller("barrier")
        let requests = MPIRequests(capacity: 1)
        try MPIEnvironment.check(MPI_Ibarrier(comm, requests.next(peer: nil)), "barrier")
        try waitAll(requests, timeout: timeout, operation: "barrier", peer: onlyOtherRank)
    }

    /// Prints `message` prefixed with the rank to stderr, then `MPI_Abort` on MPI_COMM_WORLD: mpirun kills every
    /// rank and exits with `code`.
    public func abort(_ message: String, code: Int32) -> Never {
        fflush(stdout)
        FileHandle.standardError.write(Data("[rank \(rank)] \(message)\n".utf8))
        MPI_Abort(longlm_mpi_comm_world(), code)
        exit(code) // MPI_Abort does not return; this only satisfies `Never`.
    }

    // MARK: Requests

    private func postSendAndReceive(send: UnsafeRawBufferPointer?, to destination: Int?,
                                    receive: UnsafeMutableRawBufferPointer?, from source: Int?,
                                    tag: Int, operation: String) throws -> MPIRequests {
        try checkCaller(operation)
        guard (0...tagUpperBound).contains(tag) else {
            throw CommunicationError.failed(operation: operation, peer: destination ?? source,
                                            detail: "tag \(tag) is outside 0...\(tagUpperBound) (MPI_TAG_UB)")
        }
        if let destination { try checkRank(destination) }
        if let source { try checkRank(source) }
        let receivePieces = receive.map { split($0.count, limit: maxMessageBytes) } ?? []
        let sendPieces = send.map { split($0.count, limit: maxMessageBytes) } ?? []
        let requests = MPIRequests(capacity: receivePieces.count + sendPieces.count)
        // Receives first, so an incoming message can land in place instead of an unexpected-message buffer.
        if let receive, let source {
            for piece in receivePieces {
                try MPIEnvironment.check(MPI_Irecv(receive.baseAddress.map { $0 + piece.offset }, Int32(piece.count),
                                                   longlm_mpi_byte(), Int32(source), Int32(tag), comm,
                                                   requests.next(peer: source, expectedBytes: piece.count)),
                                         operation, peer: source)
            }
        }
        if let send, let destination {
            for piece in sendPieces {
                try MPIEnvironment.check(MPI_Isend(send.baseAddress.map { $0 + piece.offset }, Int32(piece.count),
                                                   longlm_mpi_byte(), Int32(destination), Int32(tag), comm,
                                                   requests.next(peer: destination)),
                                         operation, peer: destination)
            }
        }
        return requests
    }

    private func testAll(_ requests: MPIRequests, operation: String) throws -> Bool {
        try checkCaller(operation)
        if requests.complete { return true }
        var flag: Int32 = 0
        let code = MPI_Testall(Int32(requests.count), requests.handles, &flag, requests.statuses)
        if code == longlm_mpi_err_in_status() { // name the request that failed, not one merely still pending
            for i in 0..<requests.count {
                let status = requests.statuses[i].MPI_ERROR
                if status != longlm_mpi_success() && status != longlm_mpi_err_pending() {
                    try MPIEnvironment.check(status, operation, peer: requests.peers[i])
                }
            }
        }
        try MPIEnvironment.check(code, operation)
        guard flag != 0 else { return false }
        requests.complete = true
        for i in 0..<requests.count {
            guard let expected = requests.expectedBytes[i] else { continue }
            var received: Int32 = 0
            try MPIEnvironment.check(MPI_Get_count(requests.statuses + i, longlm_mpi_byte(), &received), operation)
            guard Int(received) == expected else {
                throw CommunicationError.failed(operation: operation, peer: requests.peers[i],
                                                detail: "expected \(expected) bytes, received \(received)")
            }
        }
        return true
    }

    /// Polls until complete: a few yields for low latency (decode all-reduces), then short sleeps so a waiting
    /// rank does not steal a core from compute threads or from oversubscribed peers.
    private func waitAll(_ requests: MPIRequests, timeout: Double, operation: String, peer: Int?) throws {
        let deadline = timeout.isFinite ? DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, min(timeout, 1e9)) * 1e9) : .max
        var polls = 0
        while try !testAll(requests, operation: operation) {
            if DispatchTime.now().uptimeNanoseconds >= deadline {
                throw CommunicationError.timeout(operation: operation, peer: requests.firstPendingPeer() ?? peer, seconds: timeout)
            }
            polls += 1
            if polls < 100 { sched_yield() } else { usleep(polls < 1000 ? 20 : 200) }
        }
    }

    private func requests(of exchange: PendingExchange) throws -> MPIRequests {
        guard let requests = exchange.state as? MPIRequests else {
            throw CommunicationError.failed(operation: "exchange", peer: exchange.peerReceive,
                                            detail: "the exchange was not started by an MPICommunicator")
        }
        return requests
    }

    private func checkRank(_ other: Int) throws {
        guard (0..<size).contains(other) else { throw CommunicationError.invalidRank(other, size: size) }
    }

    /// MPI_THREAD_FUNNELED: calls from any other thread are undefined behaviour in MPI, so refuse them.
    private func checkCaller(_ operation: String) throws {
        guard pthread_equal(owner, pthread_self()) != 0 else {
            throw CommunicationError.failed(operation: operation, peer: nil,
                                            detail: "MPI called off the thread that initialised it (MPI_THREAD_FUNNELED)")
        }
    }

    /// `count` split into pieces of at most `limit` (one empty piece for an empty buffer: a zero-byte message
    /// still has to match).
    private func split(_ count: Int, limit: Int) -> [(offset: Int, count: Int)] {
        let limit = max(1, min(limit, Int(Int32.max)))
        guard count > limit else { return [(0, count)] }
        return stride(from: 0, to: count, by: limit).map { ($0, min(limit, count - $0)) }
    }
}

/// Request handles and statuses of one operation in manually allocated memory. `MPI_Testall` rewrites the
/// handles in place across calls, so they need a stable address for the life of the operation, which a Swift
/// array's temporary pointer does not give.
final class MPIRequests {
    let capacity: Int
    private(set) var count = 0
    let handles: UnsafeMutablePointer<MPI_Request?>
    let statuses: UnsafeMutablePointer<MPI_Status>
    /// Per request: the rank it talks to (nil for collectives) and, for receives, the exact byte count due.
    private(set) var peers: [Int?] = []
    private(set) var expectedBytes: [Int?] = []
    var complete = false

    init(capacity: Int) {
        self.capacity = capacity
        handles = .allocate(capacity: max(1, capacity))
        handles.initialize(repeating: longlm_mpi_request_null(), count: max(1, capacity))
        statuses = .allocate(capacity: max(1, capacity))
        statuses.initialize(repeating: MPI_Status(), count: max(1, capacity))
    }

    /// The slot for the next request to post.
    func next(peer: Int?, expectedBytes bytes: Int? = nil) -> UnsafeMutablePointer<MPI_Request?> {
        precondition(count < capacity)
        peers.append(peer)
        expectedBytes.append(bytes)
        count += 1
        return handles + (count - 1)
    }

    /// The peer of the first request not yet complete (for the timeout message); does not free anything.
    func firstPendingPeer() -> Int? {
        for i in 0..<count {
            var flag: Int32 = 0
            var status = MPI_Status()
            if MPI_Request_get_status(handles[i], &flag, &status) == longlm_mpi_success(), flag == 0 { return peers[i] }
        }
        return nil
    }

    /// Storage only: requests still active here (after a timeout) stay owned by MPI, which keeps its own copy
    /// of each handle.
    deinit {
        handles.deallocate()
        statuses.deallocate()
    }
}
