import ArgumentParser
import Foundation
import LongLMCore
import LongLMDistributed
import LongLMEval

struct BenchExchange: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-exchange",
        abstract: "Under mpirun: the ring's neighbour exchange (send to rank + 1, receive from rank - 1) for block sizes, in GB/s per rank.")

    @Option(help: ArgumentHelp("Block sizes in MiB, comma separated.", valueName: "sizes")) var sizes = "1,4,16,64"
    @Option(help: "Exchanges per size (after one warm-up).") var repeats = 10

    func validate() throws {
        _ = try CommaList.parse(sizes, option: "--sizes", in: 1...4096)
        try OptionRange.check(repeats, 1...100_000, "--repeats")
    }

    func run() throws {
        guard MPIEnvironment.isUnderMPI else { fail("bench-exchange runs under mpirun (at least 2 ranks)") }
        let comm: MPICommunicator
        do { comm = try MPIEnvironment.world() } catch { fail("MPI: \(error)") }
        guard comm.size >= 2 else { comm.abort("bench-exchange needs at least 2 ranks", code: 1) }
        let list: [Int]
        do { list = try CommaList.parse(sizes, option: "--sizes", in: 1...4096) } catch { comm.abort("\(error)", code: 1) }
        for mib in list {
            let bytes = mib << 20
            let send = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
            let receive = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
            defer { send.deallocate(); receive.deallocate() }
            memset(send.baseAddress!, 1, bytes)
            var seconds = 0.0
            do {
                for r in 0...repeats {
                    try comm.barrier(timeout: 60)
                    let start = Date()
                    let exchange = try comm.startExchange(send: UnsafeRawBufferPointer(send), to: (comm.rank + 1) % comm.size,
                                                          receive: receive, from: (comm.rank - 1 + comm.size) % comm.size, tag: 7)
                    try comm.wait(exchange, timeout: 60)
                    if r > 0 { seconds += Date().timeIntervalSince(start) }
                }
            } catch { comm.abort("rank \(comm.rank): \(error)", code: 1) }
            if comm.rank == 0 {
                print(String(format: "%5d MiB: %.3f ms per exchange, %.2f GB/s per rank each way", mib, 1000 * seconds / Double(repeats),
                             Double(bytes) * Double(repeats) / seconds / 1e9))
            }
        }
    }
}
