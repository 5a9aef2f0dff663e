import Foundation
import LongLMCore
import LongLMModels

/// The start of every command under mpirun, in one place: join the world, check that every rank runs the same
/// command line, split the node's cores among its ranks, load the model, and (for prompt commands) let rank 0
/// make the prompt and give it to everyone.
public struct MPIJob {
    public let communicator: MPICommunicator
    public let timeout: Double

    public enum Failure: Error, CustomStringConvertible {
        case differentCommandLine(rank: Int, mine: [String], rankZero: [String])
        public var description: String {
            switch self {
            case .differentCommandLine(let rank, let mine, let rankZero):
                func short(_ a: [String]) -> String { String(a.joined(separator: " ").prefix(200)) }
                return "rank \(rank) was started with a different command line than rank 0 (every rank must run the same command): "
                    + "rank \(rank): '\(short(mine))', rank 0: '\(short(rankZero))'"
            }
        }
    }

    /// Joins the job. `arguments` is this rank's command line (without the program path); a rank whose command
    /// line differs from rank 0's fails at once instead of waiting on its peers until the step timeout.
    /// `threads`: worker threads per rank (default: this node's cores divided among its ranks).
    public static func join(arguments: [String], threads: Int?, timeout: Double) throws -> MPIJob {
        let comm = try MPIEnvironment.world()
        let rankZero = try comm.broadcastValue(comm.rank == 0 ? arguments : nil, timeout: timeout)
        if rankZero != arguments { throw Failure.differentCommandLine(rank: comm.rank, mine: arguments, rankZero: rankZero) }
        let localRanks = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        Parallel.threads = threads ?? max(1, System.coreCount / max(1, localRanks))
        BLAS.setThreads(1)   // matrix products are split across our threads, OpenBLAS runs one per call
        return MPIJob(communicator: comm, timeout: timeout)
    }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// Runs `work`; an error ends the whole job with a line naming this rank (MPI_Abort).
    public func orAbort<T>(_ work: () throws -> T) -> T {
        do { return try work() } catch { communicator.abort("rank \(rank): \(error)", code: 1) }
    }

    /// Rank 0 makes the prompt ids (an error there ends the job); every rank returns them.
    public func broadcastPrompt(_ make: () throws -> [Int32]) throws -> [Int32] {
        try communicator.broadcastValue(rank == 0 ? orAbort(make) : nil, timeout: timeout)
    }
}
