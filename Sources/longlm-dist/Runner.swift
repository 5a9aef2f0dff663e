import Foundation
import LongLMCore
import LongLMDistributed
import LongLMEval
import LongLMModels

/// How a tool runs its requests: on this process, or (under mpirun) on every rank with rank 0 driving.
/// `body` runs on rank 0 only (or on the only process); the other ranks serve rank 0's requests until it
/// finishes. Any error on any rank ends the whole job with one message naming the rank.
/// `reusesPrefix`: keep the last request's KV cache and prefill only what the next prompt does not share with it.
func withRunner(modelOptions: ModelOptions, parallelOptions: ParallelOptions, prefillChunk: Int = 1024, reusesPrefix: Bool = false,
                _ body: (any SequenceRunner, LoadedModel, _ ranks: Int) throws -> Void) {
    guard MPIEnvironment.isUnderMPI else {
        let loaded = modelOptions.load()
        let runner = LocalRunner(model: loaded.model, prefillChunk: prefillChunk)
        runner.reusesPrefix = reusesPrefix
        reportingErrors { try body(runner, loaded, 1) }
        return
    }
    let job = joinJob(modelOptions: modelOptions, parallelOptions: parallelOptions)
    let loaded = modelOptions.load(in: job)
    let runner = DistributedRunner(model: loaded.model, communicator: job.communicator, layout: parallelOptions.layout,
                                   timeout: parallelOptions.stepTimeout)
    runner.reusesPrefix = reusesPrefix
    if job.rank != 0 {
        job.orAbort { try runner.serve() }
        return
    }
    job.orAbort { try body(runner, loaded, job.size) }
    job.orAbort { try runner.finish() }
}
