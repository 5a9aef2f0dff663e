import ArgumentParser
import Foundation
import LongLMCore

/// Applies `BLASCore.decide` before anything else runs: OpenBLAS reads OPENBLAS_CORETYPE only when it loads,
/// so a better core takes effect by re-executing this process (same pid, arguments and environment, plus the
/// variable). Under mpirun every rank does this on its own, before MPI is initialized.
enum BLASCoreStartup {
    /// Set on the re-executed process: "<library's core>><chosen core>", so it can report what changed and
    /// never re-executes twice.
    static let replacedVariable = "LONGLM_BLAS_CORE_REPLACED"
    /// `library` turns the choice off (as `--blas-core library` does).
    static let modeVariable = "LONGLM_BLAS_CORE"
    /// Testing hook: treat the library's pick as this core (to exercise the replacement on a node that the
    /// library already detects well).
    static let assumedLibraryCoreVariable = "LONGLM_BLAS_ASSUME_LIBRARY_CORE"

    enum Mode: String { case auto, library }

    /// Removes `--blas-core MODE` (anywhere on the command line) and returns the rest with the mode.
    static func extractMode(from arguments: [String]) throws -> (Mode?, [String]) {
        var rest: [String] = [], mode: Mode?
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            var value: String?
            if a == "--blas-core" {
                guard i + 1 < arguments.count else { throw ValidationError("--blas-core needs a value: auto or library") }
                value = arguments[i + 1]; i += 2
            } else if a.hasPrefix("--blas-core=") {
                value = String(a.dropFirst("--blas-core=".count)); i += 1
            } else { rest.append(a); i += 1; continue }
            guard let v = value, let m = Mode(rawValue: v) else {
                throw ValidationError("--blas-core must be auto or library, got '\(value ?? "")'")
            }
            mode = m
        }
        return (mode, rest)
    }


    /// Decides, and re-executes with the chosen core when it differs from the library's. Returns only when
    /// this process keeps running (no change needed, already re-executed, or exec failed).
    static func apply(mode: Mode?) {
        let environment = ProcessInfo.processInfo.environment
        let announce = isRankZeroOrAlone()
        if let replaced = environment[replacedVariable] {
            unsetenv(replacedVariable)
            let parts = replaced.split(separator: ">").map(String.init)
            let (from, wanted) = (parts.first ?? "?", parts.count > 1 ? parts[1] : "?")
            let running = BLAS.coreName
            if running.lowercased() == wanted.lowercased() {
                BLAS.coreChosenBy = "chosen by longlm-dist from the node's features; the library picked \(from)"
            } else {
                BLAS.coreChosenBy = "the library; longlm-dist asked for \(wanted), it runs \(running)"
                if announce { warn("OpenBLAS did not take OPENBLAS_CORETYPE=\(wanted): it runs \(running)") }
            }
            return
        }
        let user = environment["OPENBLAS_CORETYPE"]
        if let user, !user.isEmpty { BLAS.coreChosenBy = "set by OPENBLAS_CORETYPE=\(user)"; return }
        let disabled = (mode ?? Mode(rawValue: environment[modeVariable] ?? "") ?? .auto) == .library
        let libraryCore = environment[assumedLibraryCoreVariable] ?? BLAS.coreName
        let features = CPUFeatures.current
        let decision = BLASCore.decide(features: features, libraryCore: libraryCore,
                                       availableCores: BLAS.availableCores, userCoreType: user, disabled: disabled)
        if disabled { BLAS.coreChosenBy = "chosen by the library; --blas-core library" }
        guard let core = decision.replacement else { return }
        if announce {
            let why: String
            switch decision.reason {
            case .libraryCoreNotSupported: why = "need instructions this node's OS does not enable"
            default: why = "are weaker than this node supports (\(features.vendor.rawValue) family \(features.family) model \(features.model): \(BLASCore.supportedTier(features).map { "\($0)" } ?? "?") kernels)"
            }
            warn("OpenBLAS picked its \(libraryCore) kernels, which \(why); running \(core) instead "
                 + "(OPENBLAS_CORETYPE chooses one yourself; --blas-core library keeps the library's pick)", prefix: "note")
        }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(replacedVariable, "\(libraryCore)>\(core)", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: keep the library's core.
        let reason = String(cString: strerror(errno))
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(replacedVariable)
        if announce { warn("could not re-execute to switch OpenBLAS to \(core) (\(reason)); running \(BLAS.coreName)") }
    }

    private static func warn(_ message: String, prefix: String = "warning") {
        FileHandle.standardError.write("\(prefix): \(message)\n".data(using: .utf8)!)
    }
}
