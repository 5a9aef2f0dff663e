import Foundation

// The OpenBLAS core is chosen before anything else (it may re-execute this process); then the command runs.
do {
    let (mode, arguments) = try BLASCoreStartup.extractMode(from: Array(CommandLine.arguments.dropFirst()))
    BLASCoreStartup.apply(mode: mode)
    LongLMDist.main(arguments)
} catch {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    exit(2)
}
