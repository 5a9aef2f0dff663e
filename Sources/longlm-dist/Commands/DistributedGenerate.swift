import ArgumentParser
import Foundation
import LongLMCore
import LongLMDistributed
import LongLMModels

extension Generate {
    /// `generate` under mpirun: every rank loads the weights and runs its shard of the prompt; rank 0 reads
    /// and tokenizes the prompt, broadcasts the ids, samples each token, broadcasts it and streams the text.
    /// Any error on any rank ends the whole job with a message naming the rank.
    func runDistributed() {
        let (comm, loaded, ids, sequence) = startDistributedPrompt(
            modelOptions: modelOptions, promptOptions: promptOptions, contextOptions: contextOptions,
            parallelOptions: parallelOptions, quiet: quiet, generatedTokens: maxNewTokens - 1)
        func orAbort<T>(_ body: () throws -> T) -> T { abortingOnError(comm, body) }
        let timeout = parallelOptions.stepTimeout
        let model = loaded.model
        var sampler = greedy || temperature == nil || temperature == 0
            ? Sampler.greedy : Sampler(temperature: temperature!, topK: topK, topP: topP, seed: contextOptions.seed)
        let stops = loaded.tokenizer?.endOfGenerationTokens ?? []
        let start = Date()
        var logits = orAbort { try sequence.prefill(ids) }
        let prefillSeconds = Date().timeIntervalSince(start)
        if parallelOptions.stats { printStatistics(sequence, comm, timeout: timeout) }
        var generated: [Int32] = [], stepLogits: [Float] = [], pending: [UInt8] = []
        let decodeStart = Date()
        while true {
            // Rank 0 picks the next token (-1: stop) and tells everyone.
            var token: Int32 = -1
            if comm.rank == 0 {
                let row = logits!
                token = row.withUnsafeBufferPointer { sampler.sample($0) }
                if outputLogits != nil { stepLogits += row }
                generated.append(token)
                if !json, let tokenizer = loaded.tokenizer, !stops.contains(token) {
                    pending += tokenizer.pieceBytes(token)
                    let complete = completeUTF8Prefix(pending)
                    if complete > 0 { FileHandle.standardOutput.write(Data(pending[..<complete])); pending.removeFirst(complete) }
                }
                if stops.contains(token) || generated.count == maxNewTokens { token = -1 }
            }
            orAbort { try withUnsafeMutableBytes(of: &token) { try comm.broadcast($0, root: 0, timeout: timeout) } }
            if token < 0 { break }
            logits = orAbort { try sequence.decode(token) }
        }
        let decodeSeconds = Date().timeIntervalSince(decodeStart)
        guard comm.rank == 0 else { return }
        if !pending.isEmpty && !json { FileHandle.standardOutput.write(Data(pending)) }
        if let path = outputLogits {
            reportingErrors { try NPY.writeFloat32(path: path, shape: [generated.count, model.config.vocabularySize], values: stepLogits) }
        }
        let text = loaded.tokenizer?.decode(generated.filter { !stops.contains($0) }) ?? ""
        if json {
            let object: [String: Any] = ["prompt_tokens": ids.count, "ids": generated.map(Int.init), "text": text,
                                         "prefill_seconds": prefillSeconds, "decode_seconds": decodeSeconds, "ranks": comm.size]
            print(String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("")
            log(String(format: "%d ranks (%@): prompt %d tokens in %.2f s (%.1f tokens/s); generated %d tokens in %.2f s",
                       comm.size, parallelOptions.layout.rawValue, ids.count, prefillSeconds, Double(ids.count) / max(prefillSeconds, 1e-9),
                       generated.count, decodeSeconds))
        }
    }
}
