import Foundation
import LongLMCore
import LongLMDistributed
import LongLMModels

extension Logits {
    /// `logits` under mpirun: rank 0 reads and tokenizes the prompt and broadcasts the ids; every rank runs its
    /// shard through the ring; rank 0 gets the last position's logits, or (--all-positions) every rank's final
    /// hidden states, and projects and writes them in position order. Only rank 0 writes the file.
    func runDistributed() {
        let (comm, loaded, ids, sequence) = startDistributedPrompt(
            modelOptions: modelOptions, promptOptions: promptOptions, contextOptions: contextOptions,
            parallelOptions: parallelOptions, quiet: quiet, generatedTokens: 0)
        func orAbort<T>(_ body: () throws -> T) -> T { abortingOnError(comm, body) }
        let timeout = parallelOptions.stepTimeout
        let model = loaded.model
        let vocab = model.config.vocabularySize
        if allPositions {
            let (hidden, _) = orAbort { try sequence.prefillHidden(ids) }
            let gathered = orAbort { try sequence.gatherByPosition(hidden.array, width: model.config.hiddenSize) }
            if parallelOptions.stats { printStatistics(sequence, comm, timeout: timeout) }
            guard comm.rank == 0, let gathered else { return }
            reportingErrors {
                let writer = try NPY.FloatWriter(path: output, shape: [ids.count, vocab])
                let all = FloatBuffer(rows: ids.count, cols: model.config.hiddenSize, zeroed: false)
                gathered.withUnsafeBufferPointer { all.pointer.update(from: $0.baseAddress!, count: $0.count) }
                var start = 0
                while start < ids.count {
                    let end = min(ids.count, start + 64)
                    let logits = model.logits(hidden: all, rows: start..<end)
                    try writer.write(UnsafeBufferPointer(start: logits.pointer, count: logits.count))
                    start = end
                }
                try writer.close()
            }
        } else {
            let logits = orAbort { try sequence.prefill(ids) }
            if parallelOptions.stats { printStatistics(sequence, comm, timeout: timeout) }
            guard comm.rank == 0, let logits else { return }
            reportingErrors { try NPY.writeFloat32(path: output, shape: [1, vocab], values: logits) }
        }
    }
}

/// The start of `generate` and `logits` under mpirun: join the job and load the model on every rank; rank 0
/// reads and tokenizes the prompt and checks it against the method (exiting on bad input ends the job);
/// every rank gets the ids and makes its part of the sequence; rank 0 reports the prefill's progress.
func startDistributedPrompt(modelOptions: ModelOptions, promptOptions: PromptOptions, contextOptions: ContextOptions,
                            parallelOptions: ParallelOptions, quiet: Bool, generatedTokens: Int)
    -> (MPICommunicator, LoadedModel, [Int32], DistributedSequence) {
    let (comm, loaded) = joinMPIJob(modelOptions: modelOptions)
    let timeout = parallelOptions.stepTimeout, config = loaded.model.config
    let ids = abortingOnError(comm) { try broadcastPrompt(comm, timeout: timeout) { promptOptions.promptTokens(loaded) } }
    // Only rank 0 checks the window (and reports); the others take the same method unchecked.
    let method = comm.rank == 0 ? contextOptions.resolved(for: config, tokens: ids.count + generatedTokens) : abortingOnError(comm) { try contextOptions.method(for: config) }
    let sequence = abortingOnError(comm) {
        try DistributedSequence(model: loaded.model, communicator: comm, layout: parallelOptions.layout, method: method,
                                promptLength: ids.count, timeout: timeout)
    }
    if comm.rank == 0, let report = prefillProgress(total: ids.count, quiet: quiet) {
        sequence.onLayer = { layer, layers in report(ids.count * (layer + 1) / layers, ids.count) }
    }
    return (comm, loaded, ids, sequence)
}

/// Rank 0 makes the prompt ids (exiting on bad input ends the job); every rank returns them.
func broadcastPrompt(_ comm: any Communicator, timeout: Double, make: () -> [Int32]) throws -> [Int32] {
    var ids: [Int32] = comm.rank == 0 ? make() : []
    var count = Int64(ids.count)
    try withUnsafeMutableBytes(of: &count) { try comm.broadcast($0, root: 0, timeout: timeout) }
    if comm.rank != 0 { ids = [Int32](repeating: 0, count: Int(count)) }
    try ids.withUnsafeMutableBytes { try comm.broadcast($0, root: 0, timeout: timeout) }
    return ids
}

/// `--stats`: every rank prints its per-layer ring statistics, in rank order.
func printStatistics(_ sequence: DistributedSequence, _ comm: any Communicator, timeout: Double) {
    for r in 0..<comm.size {
        if r == comm.rank {
            // The report's lines carry the rank already.
            let lines = ["[rank \(r)] cpu: \(CPUFeatures.current.summary)", "[rank \(r)] blas: \(BLAS.report.line)",
                         sequence.statistics.report(rank: r)]
            FileHandle.standardError.write((lines.joined(separator: "\n") + "\n").data(using: .utf8)!)
        }
        do { try comm.barrier(timeout: timeout) } catch { comm.abort("rank \(comm.rank): \(error)", code: 1) }
    }
}
