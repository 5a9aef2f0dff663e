import Foundation
/// What the distributed code needs from a group of ranks: point-to-point exchange (nonblocking, for the
/// ring), broadcast, reductions and a barrier. Implemented over MPI (`MPICommunicator`) and in process
/// with one thread per rank (`LocalCommunicator`, for tests). Every blocking call takes a deadline so a
/// dead or stopped peer ends the job with an error naming it instead of hanging.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }

    /// Starts sending `send` to rank `destination` and receiving exactly `receive.count` bytes from rank `source`
    /// into `receive`. Both buffers must stay valid and untouched until `wait` returns (use stable allocations,
    /// never a Swift array's temporary pointer).
    func startExchange(send: UnsafeRawBufferPointer, to destination: Int,
                       receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws -> PendingExchange
    /// Drives progress; true once the exchange has completed.
    func test(_ exchange: PendingExchange) throws -> Bool
    /// Waits for the exchange, at most `timeout` seconds (then `CommunicationError.timeout`).
    func wait(_ exchange: PendingExchange, timeout: Double) throws

    /// Blocking send and receive of exactly `count` bytes.
    func send(_ buffer: UnsafeRawBufferPointer, to destination: Int, tag: Int, timeout: Double) throws
    func receive(_ buffer: UnsafeMutableRawBufferPointer, from source: Int, tag: Int, timeout: Double) throws

    /// Every rank ends with root's bytes.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int, timeout: Double) throws
    /// Element-wise reduction across ranks; every rank ends with the result.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation, timeout: Double) throws
    func barrier(timeout: Double) throws

    /// Ends the whole job (every rank) after printing `message`; never returns.
    func abort(_ message: String, code: Int32) -> Never
}

public enum ReductionOperation: Sendable { case sum, max }

/// A started exchange; opaque to callers.
public final class PendingExchange {
    public let peerSend: Int
    public let peerReceive: Int
    /// Implementation state (MPI requests, or the local mailbox ticket).
    public var state: Any?
    public init(peerSend: Int, peerReceive: Int, state: Any?) {
        self.peerSend = peerSend
        self.peerReceive = peerReceive
        self.state = state
    }
}

public enum CommunicationError: Error, CustomStringConvertible {
    case timeout(operation: String, peer: Int?, seconds: Double)
    case failed(operation: String, peer: Int?, detail: String)
    case invalidRank(Int, size: Int)

    public var description: String {
        switch self {
        case .timeout(let op, let peer, let s):
            return "\(op) timed out after \(s) s" + (peer.map { " waiting for rank \($0) (stopped or dead?)" } ?? "")
        case .failed(let op, let peer, let d): return "\(op) failed" + (peer.map { " with rank \($0)" } ?? "") + ": \(d)"
        case .invalidRank(let r, let size): return "rank \(r) is outside 0..<\(size)"
        }
    }
}

extension Communicator {
    /// Rank `root` sends `value` (its JSON: length, then bytes); every rank returns it. The other ranks pass nil.
    public func broadcastValue<T: Codable>(_ value: T?, root: Int = 0, timeout: Double) throws -> T {
        var bytes = rank == root ? [UInt8](try JSONEncoder().encode(value!)) : []
        var count = Int64(bytes.count)
        try withUnsafeMutableBytes(of: &count) { try broadcast($0, root: root, timeout: timeout) }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count)) }
        try bytes.withUnsafeMutableBytes { try broadcast($0, root: root, timeout: timeout) }
        if rank == root { return value! }
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}
