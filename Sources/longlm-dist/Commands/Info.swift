import ArgumentParser
import Foundation
import LongLMCore
import LongLMModels

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: architecture, sizes, context, tensor types, memory.",
        discussion: "Architectures: GGUF \(ArchitectureRegistry.ggufArchitectures.joined(separator: ", ")); "
            + "safetensors \(ArchitectureRegistry.huggingFaceModelTypes.joined(separator: ", ")).")

    @Option(name: [.short, .long], help: ArgumentHelp("A .gguf file or a Hugging Face directory.", valueName: "path"))
    var model: String
    @Option(help: "Also check a sequence of this many tokens against the method, and print the memory plan of a run over it.") var tokens: Int?
    @Option(help: "The memory plan for this many ranks on this node (the sequence split among them).") var ranks = 1
    @Option(help: "The memory plan for this many prompt tokens per forward call on one process (generate's --batch-size).") var batchSize = 1024
    @Option(help: ArgumentHelp("The memory plan with the KV cache stored as this type (a run's default is f16; f32 with --precision exact).", valueName: "type"))
    var kvType: KVType = .f16
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions

    func validate() throws {
        try OptionRange.check(tokens, 1...(1 << 40), "--tokens")
        try OptionRange.check(ranks, 1...65536, "--ranks")
        try OptionRange.check(batchSize, 1...65536, "--batch-size")
    }

    func run() throws {
        guard isRankZeroOrAlone() else { return }
        let config = reportingErrors { try ModelLoader.config(path: model) }
        let c = config
        // Everything the user asked about is checked before anything is printed.
        // With --tokens, parameters the length decides are chosen as generate would choose them.
        reportingErrors { try ModelOptions.checkKVType(kvType, config: c) }
        let (method, chosen) = reportingErrors {
            try tokens.map { try contextOptions.method(for: c, tokens: $0) } ?? (try contextOptions.method(for: c), [:])
        }
        print("model:            \(model)")
        print("architecture:     \(c.architecture) (supported: GGUF \(ArchitectureRegistry.ggufArchitectures.joined(separator: ", ")); "
              + "safetensors \(ArchitectureRegistry.huggingFaceModelTypes.joined(separator: ", ")))")
        print("layers:           \(c.layerCount)\(c.slidingWindow.map { " (\(c.slidingLayers.filter { $0 }.count) with a sliding window of \($0))" } ?? "")")
        print("hidden size:      \(c.hiddenSize)")
        print("heads:            \(c.heads) query, \(c.kvHeads) key/value, head dim \(c.headDim)")
        print("feed-forward:     \(c.ffnSize) (\(c.activation.rawValue))")
        print("vocabulary:       \(c.vocabularySize)")
        print("trained context:  \(c.trainedContext) tokens")
        print("rope:             base \(c.ropeBase)\(c.slidingRopeBase.map { ", sliding layers \($0)" } ?? ""), \(c.rotaryPairing.rawValue) pairs"
              + (c.ropeScaling.map { ", scaling \($0.name)" } ?? "")
              + (c.ropeFrequencyFactors.map { $0.long == nil ? ", frequency factors (rope_freqs)"
                  : ", short/long frequency factors (long past \($0.originalContext) tokens)" } ?? ""))
        print("chat template:    \(chatTemplateSummary(model))")
        if model.hasSuffix(".gguf"), let file = try? GGUFFile(path: model) {
            var byType: [String: (count: Int, elements: Int)] = [:]
            for t in file.tensors {
                byType[t.type.name, default: (0, 0)].count += 1
                byType[t.type.name, default: (0, 0)].elements += t.elementCount
            }
            let types = byType.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value.count)" }.joined(separator: ", ")
            print("tensor types:     \(types)")
            print("file size:        \(formatBytes(file.file.size))")
        }
        let parameters = c.vocabularySize * c.hiddenSize * (c.tiedEmbeddings ? 1 : 2) + c.layerCount * (
            c.hiddenSize * (c.heads + 2 * c.kvHeads) * c.headDim + c.heads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.ffnSize)
        print("parameters:       \(String(format: "%.1f", Double(parameters) / 1e6)) M (weights stay in the file's encoding, memory-mapped; as f32 they would take \(formatBytes(parameters * 4)))")
        let kvPerToken = c.layerCount * 2 * kvType.bytes(c.kvHeads * c.headDim)
        print("KV cache:         \(formatBytes(kvPerToken)) per token (\(kvType) keys and values, all layers; --kv-type: "
              + KVType.allCases.filter { $0.unsupportedReason(headDim: c.headDim) == nil }.map { "\($0) \(formatBytes(c.layerCount * 2 * $0.bytes(c.kvHeads * c.headDim)))" }.joined(separator: ", ") + ")")
        print("method:           \(method)" + (chosen.isEmpty ? "" : " (chose "
              + chosen.keys.sorted().map { "--\($0) \(chosen[$0]!)" }.joined(separator: " ") + " for \(tokens ?? 0) tokens)"))
        print("longest prompt:   \(method.maximumLength(config: c).map { "\($0) tokens" } ?? "no limit from positions")")
        ModelOptions.applyThreads(nil)   // report what a run on this node would use
        printNodeReport()
        if let n = tokens {
            let weights = reportingErrors { try ModelLoader.weightFileBytes(path: model) }
            let plan = MemoryPlan(config: c, weightBytes: weights, tokens: n, ranks: ranks, prefillChunk: batchSize,
                                  keyClasses: method.keyClassesEstimate, kvType: kvType,
                                  // A default run's attention tiles on this node (BF16 where it has them).
                                  attentionTiles: .automatic(precision: .fast, kernels: .best(for: .current)))
            plan.table(ranksOnThisNode: ranks, available: MemoryPlan.availableBytes()).forEach { print($0) }
            reportingErrors { try method.checkLength(n, config: c) }
            print("a sequence of \(n) tokens fits the method")
        }
    }
}

/// The family `--chat` would use for the model, or why it needs `--chat-template`.
func chatTemplateSummary(_ path: String) -> String {
    do {
        guard let text = try ChatTemplate.text(modelAt: path) else { return "none in the file (--chat needs --chat-template NAME)" }
        guard let family = ChatTemplate.detect(in: text) else { return "not a known family (--chat needs --chat-template NAME)" }
        return "\(family.name) (detected in the file's template)"
    } catch {
        return "unreadable (\(error))"
    }
}

/// The node's OS-enabled CPU features and the BLAS that runs: what every speed figure depends on.
func printNodeReport() {
    let f = CPUFeatures.current
    print("cpu:              \(f.vendor.rawValue) family \(f.family) model \(f.model), \(System.coreCount) cores; enabled: \(f.summary)")
    print("blas:             \(BLAS.report.line)")
    print("threads:          \(Parallel.threads) worker threads (--threads)")
    print("kernels:          \(KernelVariant.best(for: f).rawValue) (--kernels auto; this node runs: "
          + KernelVariant.supportedHere.map(\.rawValue).joined(separator: ", ") + "); decode precision fast by default "
          + "(int8 activations; --precision exact for f32)")
    let tiles = AttentionTiles.automatic(precision: .fast, kernels: KernelVariant.best(for: f), cpu: f)
    print("attention tiles:  \(tiles) in the fast precision (--attention-tiles auto; "
          + (tiles == .f32 ? "this CPU has no AVX-512 BF16" : "f32 with --precision exact or --attention-tiles f32") + ")")
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}
