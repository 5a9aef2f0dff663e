import Foundation
import LongLMCore
import LongLMDistributed
import LongLMEval
import LongLMModels

/// How a tool runs its requests: on this process, or (under mpirun) on every rank with rank 0 driving.
/// `body` runs on rank 0 only (or on the only process); the other ranks serve rank 0's requests until it
/// finishes. Any error on any rank ends the whole job with one message naming the rank.
func withRunner(modelOptions: ModelOptions, parallelOptions: ParallelOptions, prefillChunk: Int = 1024,
                _ body: (any SequenceRunner, LoadedModel, _ ranks: Int) throws -> Void) {
    guard MPIEnvironment.isUnderMPI else {
        let loaded = modelOptions.load()
        let runner = LocalRunner(model: loaded.model, prefillChunk: prefillChunk)
        reportingErrors { try body(runner, loaded, 1) }
        return
    }
    let (comm, loaded) = joinMPIJob(modelOptions: modelOptions)
    let runner = DistributedRunner(model: loaded.model, communicator: comm, layout: parallelOptions.layout,
                                   timeout: parallelOptions.stepTimeout)
    if comm.rank != 0 {
        abortingOnError(comm) { try runner.serve() }
        return
    }
    abortingOnError(comm) { try body(runner, loaded, comm.size) }
    abortingOnError(comm) { try runner.finish() }
}

/// Joins the MPI job and loads the model on every rank (an error on any rank ends the job).
func joinMPIJob(modelOptions: ModelOptions) -> (MPICommunicator, LoadedModel) {
    let comm = startMPI(modelOptions: modelOptions)
    return (comm, abortingOnError(comm) { try ModelLoader.load(path: modelOptions.model) })
}

/// Runs `work`; an error ends the whole MPI job with a line naming this rank.
func abortingOnError<T>(_ comm: any Communicator, _ work: () throws -> T) -> T {
    do { return try work() } catch { comm.abort("rank \(comm.rank): \(error)", code: 1) }
}

/// Joins the MPI job and splits this node's cores among its ranks (unless --threads says otherwise).
func startMPI(modelOptions: ModelOptions) -> MPICommunicator {
    let comm: MPICommunicator
    do { comm = try MPIEnvironment.world() } catch { fail("MPI: \(error)") }
    let localRanks = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
    Parallel.threads = modelOptions.threads ?? max(1, System.coreCount / max(1, localRanks))
    BLAS.setThreads(1)
    if comm.size > 1 {
        logPrefix = "[rank \(comm.rank)] "
        ProgressReporter.linePrefix = logPrefix
    }
    return comm
}
