import ArgumentParser
import Foundation
import LongLMCore
import LongLMDistributed


struct LongLMDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longlm-dist",
        abstract: "Run pretrained LLMs (GGUF or Hugging Face safetensors) on long documents, on CPU.",
        discussion: """
            OpenBLAS kernels: at start-up longlm-dist checks the core OpenBLAS picked against the CPU features \
            the OS enables and, when the library fell back to weaker kernels (as Debian's OpenBLAS does on CPUs \
            newer than itself), re-executes itself with OPENBLAS_CORETYPE set to the best core the library has. \
            A user's OPENBLAS_CORETYPE always wins; `--blas-core library` (any position, or \
            LONGLM_BLAS_CORE=library) keeps the library's pick. `info` names the core in use.
            """,
        version: "0.1.0",
        subcommands: [Generate.self, Serve.self, Logits.self, Passkey.self, Needle.self, RulerCommand.self, Perplexity.self, Batch.self, BenchExchange.self, Tokenize.self, Info.self, Bench.self, BenchAttention.self, BenchKernels.self])
}

/// Prints `message` as one line on stderr and exits non-zero: the shape of every user-facing error.
/// Under mpirun the whole job ends at once (MPI_Abort, the line prefixed with the rank): a rank that merely
/// exited would leave its peers waiting in the ring and MPI_Finalize waiting for them.
func fail(_ message: String) -> Never {
    if let world = MPIEnvironment.current { world.abort("error: " + message, code: 1) }
    FileHandle.standardError.write(("error: " + message + "\n").data(using: .utf8)!)
    exit(1)
}

/// Runs `body`, turning any thrown error into a one-line message and exit status 1.
func reportingErrors<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch let e as ExitCode { LongLMDist.exit(withError: e) }
    catch { fail(String(describing: error)) }
}

/// Prefix of log lines: "[rank r] " under mpirun with more than one rank.
nonisolated(unsafe) var logPrefix = ""

func log(_ message: String) {
    FileHandle.standardError.write((logPrefix + message + "\n").data(using: .utf8)!)
}

/// Commands that describe or measure one process (tokenize, info, bench) run on rank 0 alone under mpirun,
/// so their output appears once; the other ranks return at once. Read from the launcher's environment:
/// these commands never initialise MPI.
func isRankZeroOrAlone() -> Bool {
    let environment = ProcessInfo.processInfo.environment
    return (environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMI_RANK"] ?? "0") == "0"
}
