import ArgumentParser
import Foundation
import LongLMCore
import LongLMModels
import LongLMDistributed

struct ModelOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("A .gguf file, or a Hugging Face directory with config.json and *.safetensors.", valueName: "path"))
    var model: String

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("fast: int8 activations with integer products (decode, and prefill on AVX-512 VNNI) and BF16 attention tiles where the CPU has them (default); exact: f32 on exactly dequantized weights (the reference).", valueName: "fast|exact"))
    var precision: Precision = .fast

    @Option(help: ArgumentHelp("Kernel variant for the fast path: auto (the best this CPU runs), \(KernelVariant.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "name"))
    var kernels: KernelSelection = .auto

    @Option(help: ArgumentHelp("How the KV cache stores keys and values: \(KVType.allCases.map(\.rawValue).joined(separator: ", ")) (default: f16 with --precision fast, f32 with exact). The ring sends the stored bytes.", valueName: "type"))
    var kvType: KVType?

    @Option(help: ArgumentHelp("How prefill's attention multiplies its tiles: auto (bf16 with --precision fast on a CPU with AVX-512 BF16, f32 otherwise), bf16 (queries, keys, probabilities and values rounded to bfloat16, f32 sums), f32.", valueName: "auto|bf16|f32"))
    var attentionTiles: AttentionTilesSelection = .auto

    /// The KV storage a run uses: as given, else f16 for the fast precision and f32 for the exact one.
    var effectiveKVType: KVType { kvType ?? (precision == .exact ? .f32 : .f16) }

    func validate() throws {
        try OptionRange.check(threads, 1...OptionRange.maximumThreads, "--threads")
        _ = try kernels.variant()
        _ = try attentionTiles.tiles(precision: precision, kernels: kernels.variant())
    }

    /// The precision, kernel variant and KV storage for this process.
    func applyCompute() {
        Compute.precision = precision
        Compute.kernels = reportingErrors { try kernels.variant() }
        Compute.kvType = effectiveKVType
        Compute.attentionTiles = reportingErrors { try attentionTiles.tiles(precision: precision, kernels: Compute.kernels) }
    }

    /// Worker threads for a run on this process: ours split matrix products, OpenBLAS runs one thread per call.
    static func applyThreads(_ threads: Int?) {
        Parallel.threads = threads ?? System.coreCount
        BLAS.setThreads(1)   // we split matrix products across threads ourselves
    }

    func load() -> LoadedModel {
        Self.applyThreads(threads)
        applyCompute()
        return reportingErrors {
            let loaded = try ModelLoader.load(path: model)
            try Self.checkKVType(Compute.kvType, config: loaded.model.config)
            return loaded
        }
    }
}

struct PromptOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Token ids, comma separated, fed exactly as given (no BOS added).", valueName: "ids"))
    var tokens: String?

    @Option(help: ArgumentHelp("Read token ids (comma or white-space separated) from a file (- for standard input), fed exactly as given.", valueName: "file"))
    var tokensFile: String?

    @Option(help: "Prompt text (the model's BOS rule applies).")
    var prompt: String?

    @Option(help: ArgumentHelp("Read the prompt text from a file (- for standard input).", valueName: "file"))
    var promptFile: String?

    @Flag(help: "Print the prompt on stderr before running: its token ids and, with --chat, the rendered conversation.")
    var showPrompt = false

    @OptionGroup(title: "Chat (instruct models)") var chatOptions: ChatOptions

    @Flag(help: "Run even if the memory plan (see info --tokens) says the run does not fit in this node's available memory.")
    var noMemoryCheck = false

    func validate() throws {
        let given = [tokens != nil, tokensFile != nil, prompt != nil, promptFile != nil].filter { $0 }.count
        if given != 1 { throw ValidationError("give exactly one of --tokens, --tokens-file, --prompt, --prompt-file") }
        try chatOptions.checkChatIsOn()
        if chatOptions.chat && prompt == nil && promptFile == nil {
            throw ValidationError("--chat needs a text prompt (--prompt or --prompt-file): token ids are fed exactly as given")
        }
    }

    func promptTokens(_ loaded: LoadedModel) -> [Int32] {
        reportingErrors {
            let ids: [Int32]
            if tokens != nil || tokensFile != nil {
                let text = try tokens ?? readText(tokensFile!, option: "--tokens-file")
                ids = try text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map { part -> Int32 in
                    guard let v = Int32(part.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--tokens: '\(part)' is not an integer token id")
                    }
                    return v
                }
            } else {
                let text = try prompt ?? readText(promptFile!, option: "--prompt-file")
                guard let tokenizer = loaded.tokenizer else {
                    throw ValidationError("\(loaded.path) has no tokenizer; pass --tokens")
                }
                if let turn = try chatOptions.turn(for: loaded) {
                    ids = try turn.tokens(user: text, tokenizer: tokenizer)
                    if showPrompt { log("prompt text (\(turn.template.name)): " + turn.text(user: text).debugDescription) }
                } else {
                    ids = try tokenizer.encode(text, addSpecial: true)
                }
            }
            if showPrompt { log("prompt ids (\(ids.count)): " + ids.map(String.init).joined(separator: ",")) }
            guard !ids.isEmpty else { throw ValidationError("the prompt is empty (no tokens)") }
            let vocab = loaded.model.config.vocabularySize
            if let bad = ids.firstIndex(where: { $0 < 0 || Int($0) >= vocab }) {
                throw ValidationError("token id \(ids[bad]) at index \(bad) is outside the vocabulary (0..<\(vocab))")
            }
            return ids
        }
    }
}

/// The UTF-8 text of `path` (`-`: standard input), or an error naming the option and the file.
func readText(_ path: String, option: String) throws -> String {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            throw ValidationError("\(option) \(path): " + (!exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "cannot be read"))
        }
        data = contents
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("\(option) \(path == "-" ? "(standard input)" : path): not UTF-8 text")
    }
    return text
}

extension Precision: ExpressibleByArgument {}
extension KVType: ExpressibleByArgument {}

extension ModelOptions {
    /// Loads the model on a rank of an MPI job (any rank's failure ends the job), checking the KV type against it.
    func load(in job: MPIJob) -> LoadedModel {
        job.orAbort {
            let loaded = try ModelLoader.load(path: model)
            try Self.checkKVType(Compute.kvType, config: loaded.model.config)
            return loaded
        }
    }

    /// Refuses a KV type the model's head dim cannot be stored in (q8_0 needs whole blocks of 32 per head).
    static func checkKVType(_ type: KVType, config: ModelConfig) throws {
        if let reason = type.unsupportedReason(headDim: config.headDim) {
            throw ValidationError(reason + "; use --kv-type f16, bf16 or f32")
        }
    }
}

/// `--kernels`: auto, or a variant by name (refused when this node cannot run it).
/// `--attention-tiles`.
enum AttentionTilesSelection: String, ExpressibleByArgument, CaseIterable {
    case auto, bf16, f32

    func tiles(precision: Precision, kernels: KernelVariant, cpu: CPUFeatures = .current) throws -> AttentionTiles {
        switch self {
        case .auto: return .automatic(precision: precision, kernels: kernels, cpu: cpu)
        case .f32: return .f32
        case .bf16:
            guard BF16Variant.avx512bf16.isSupported(by: cpu) else {
                throw ValidationError("--attention-tiles bf16: this CPU has no AVX-512 BF16 (use auto or f32)")
            }
            return .bf16(.avx512bf16)
        }
    }
}

enum KernelSelection: ExpressibleByArgument, Equatable {
    case auto
    case forced(KernelVariant)

    init?(argument: String) {
        if argument == "auto" { self = .auto; return }
        guard let variant = KernelVariant(rawValue: argument) else { return nil }
        self = .forced(variant)
    }

    static var allValueStrings: [String] { ["auto"] + KernelVariant.allCases.map(\.rawValue) }

    func variant(cpu: CPUFeatures = .current) throws -> KernelVariant {
        switch self {
        case .auto: return .best(for: cpu)
        case .forced(let variant):
            guard variant.isSupported(by: cpu) else {
                let here = KernelVariant.allCases.filter { $0.isSupported(by: cpu) }.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--kernels \(variant): this CPU cannot run it (this node runs: \(here))")
            }
            return variant
        }
    }
}
