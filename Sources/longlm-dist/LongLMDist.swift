import ArgumentParser
import Foundation
import LongLMCore

@main
struct LongLMDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longlm-dist",
        abstract: "Run pretrained LLMs (GGUF or Hugging Face safetensors) on long documents, on CPU.",
        version: "0.1.0",
        subcommands: [Generate.self, Logits.self, Passkey.self, Needle.self, Perplexity.self, Batch.self, BenchExchange.self, Tokenize.self, Info.self, Bench.self, BenchAttention.self])
}

/// Prints `message` as one line on stderr and exits non-zero: the shape of every user-facing error.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(("error: " + message + "\n").data(using: .utf8)!)
    exit(1)
}

/// Runs `body`, turning any thrown error into a one-line message and exit status 1.
func reportingErrors<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch let e as ExitCode { LongLMDist.exit(withError: e) }
    catch { fail(String(describing: error)) }
}

func log(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
