import Foundation
import LongLMCore
import LongLMDistributed
import LongLMEval
import LongLMModels

/// The start of a prompt command (`generate`, `logits`), the same on one process and under mpirun: the
/// model loaded, the prompt's ids (rank 0 reads and tokenizes them and every rank gets them), the method
/// checked against the prompt on rank 0, and the sequence that runs them.
struct PromptRun {
    let loaded: LoadedModel
    let ids: [Int32]
    let method: ContextMethod
    let sequence: any TokenSequence
    /// The MPI job, nil on one process.
    let job: MPIJob?

    var isCoordinator: Bool { sequence.isCoordinator }

    /// `generatedTokens`: tokens generated after the prompt, counted in the method's length check.
    init(modelOptions: ModelOptions, promptOptions: PromptOptions, contextOptions: ContextOptions,
         parallelOptions: ParallelOptions, batchSize: Int, quiet: Bool, generatedTokens: Int) {
        guard MPIEnvironment.isUnderMPI else {
            let loaded = modelOptions.load()
            let ids = promptOptions.promptTokens(loaded)
            let method = contextOptions.resolved(for: loaded.model.config, tokens: ids.count + generatedTokens)
            checkMemory(path: modelOptions.model, config: loaded.model.config, tokens: ids.count + generatedTokens, ranks: 1,
                        ranksOnThisNode: 1, batchSize: batchSize, method: method, skip: promptOptions.noMemoryCheck)
            var generator = Generator(model: loaded.model, prefillChunk: batchSize)
            generator.method = method
            generator.enforcesMaximumLength = !contextOptions.noWindowCheck
            generator.onPrefillProgress = prefillProgress(total: ids.count, quiet: quiet)
            let sequence = reportingErrors { try LocalSequence(generator: generator, promptLength: ids.count, reserve: ids.count + generatedTokens + 1) }
            (self.loaded, self.ids, self.method, self.sequence, self.job) = (loaded, ids, method, sequence, nil)
            return
        }
        let job = joinJob(modelOptions: modelOptions, parallelOptions: parallelOptions)
        let loaded = modelOptions.load(in: job)
        let ids = job.orAbort { try job.broadcastPrompt { promptOptions.promptTokens(loaded) } }
        let config = loaded.model.config
        // Rank 0 checks the window (and reports); the others take the same method from the same options.
        let method = job.rank == 0 ? contextOptions.resolved(for: config, tokens: ids.count + generatedTokens)
                                   : job.orAbort { try contextOptions.method(for: config, tokens: ids.count + generatedTokens).0 }
        // Each rank checks its own node (ranks of one node share its memory).
        let localRanks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        job.orAbort {
            try memoryCheck(path: modelOptions.model, config: config, tokens: ids.count + generatedTokens, ranks: job.size,
                            ranksOnThisNode: localRanks, batchSize: batchSize, method: method, skip: promptOptions.noMemoryCheck)
        }
        let sequence = job.orAbort {
            try DistributedSequence(model: loaded.model, communicator: job.communicator, layout: parallelOptions.layout,
                                    method: method, promptLength: ids.count, sequenceLength: ids.count + generatedTokens + 1,
                                    timeout: parallelOptions.stepTimeout)
        }
        if job.rank == 0 { sequence.onPrefillProgress = prefillProgress(total: ids.count, quiet: quiet) }
        (self.loaded, self.ids, self.method, self.sequence, self.job) = (loaded, ids, method, sequence, job)
    }

    /// Runs `work`; an error is one line and a non-zero exit (under mpirun it ends the whole job).
    func orFail<T>(_ work: () throws -> T) -> T {
        if let job { return job.orAbort(work) }
        return reportingErrors(work)
    }

    /// `--stats`: under mpirun each rank's ring statistics and peak memory, in rank order; on one process the peak
    /// memory (nothing without `--stats`).
    func printStatistics(_ options: ParallelOptions) {
        guard options.stats else { return }
        guard let job, let sequence = sequence as? DistributedSequence else {
            log("peak resident memory: \(MemoryPlan.format(MemoryPlan.peakResidentBytes()))")
            return
        }
        let timeout = options.stepTimeout
        for r in 0..<job.size {
            if r == job.rank {
                // The report's lines carry the rank already.
                let lines = ["[rank \(r)] cpu: \(CPUFeatures.current.summary)", "[rank \(r)] blas: \(BLAS.report.line)",
                             sequence.statistics.report(rank: r),
                             "[rank \(r)] peak resident memory: \(MemoryPlan.format(MemoryPlan.peakResidentBytes()))"]
                FileHandle.standardError.write((lines.joined(separator: "\n") + "\n").data(using: .utf8)!)
            }
            job.orAbort { try job.communicator.barrier(timeout: timeout) }
        }
    }
}

/// Why a run is refused before it starts.
struct MemoryPlanError: Error, CustomStringConvertible {
    let lines: [String]
    var description: String {
        "the run does not fit in this node's available memory (pass --no-memory-check to run anyway):\n"
            + lines.joined(separator: "\n")
    }
}

/// Refuses a run whose memory plan exceeds the node's available memory (a warning with `skip`).
func memoryCheck(path: String, config: ModelConfig, tokens: Int, ranks: Int, ranksOnThisNode: Int, batchSize: Int,
                 method: ContextMethod, skip: Bool) throws {
    guard let available = MemoryPlan.availableBytes() else { return }
    let plan = MemoryPlan(config: config, weightBytes: try ModelLoader.weightFileBytes(path: path), tokens: tokens, ranks: ranks,
                          prefillChunk: batchSize, keyClasses: method.keyClassesEstimate, kvType: Compute.kvType,
                          attentionTiles: Compute.attentionTiles)
    guard !plan.fits(ranksOnThisNode: ranksOnThisNode, available: available) else { return }
    let lines = plan.table(ranksOnThisNode: ranksOnThisNode, available: available)
    guard skip else { throw MemoryPlanError(lines: lines) }
    log("warning: the memory plan does not fit (continuing: --no-memory-check)\n" + lines.joined(separator: "\n"))
}

/// One process: `memoryCheck`, an error exits with the table.
func checkMemory(path: String, config: ModelConfig, tokens: Int, ranks: Int, ranksOnThisNode: Int, batchSize: Int,
                 method: ContextMethod, skip: Bool) {
    reportingErrors {
        try memoryCheck(path: path, config: config, tokens: tokens, ranks: ranks, ranksOnThisNode: ranksOnThisNode,
                        batchSize: batchSize, method: method, skip: skip)
    }
}

/// Joins the MPI job (same command line on every rank, the node's cores split among its ranks) and marks
/// log lines with the rank.
func joinJob(modelOptions: ModelOptions, parallelOptions: ParallelOptions) -> MPIJob {
    let job: MPIJob
    do {
        job = try MPIJob.join(arguments: Array(CommandLine.arguments.dropFirst()), threads: modelOptions.threads,
                              timeout: parallelOptions.stepTimeout)
    } catch {
        if let world = MPIEnvironment.current { world.abort("error: \(error)", code: 1) }
        fail("MPI: \(error)")
    }
    // Every rank computes in the same precision with the kernels its own node runs best (or the forced ones).
    modelOptions.applyCompute()
    if job.size > 1 {
        logPrefix = "[rank \(job.rank)] "
        ProgressReporter.linePrefix = logPrefix
    }
    return job
}

/// Prefill progress on stderr for prompts long enough to wait for (nil: none).
func prefillProgress(total: Int, quiet: Bool) -> ((Int, Int) -> Void)? {
    guard total >= 4096 && !quiet else { return nil }
    let reporter = ProgressReporter(label: "prefill", quiet: false)
    return { done, total in reporter.update(done: done, total: total) }
}
