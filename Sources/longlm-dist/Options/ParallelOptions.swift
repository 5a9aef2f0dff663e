import ArgumentParser
import Foundation
import LongLMDistributed

/// Options of distributed runs (under mpirun); ignored by a plain single-process run.
struct ParallelOptions: ParsableArguments {
    @Option(help: "How the prompt is split over ranks: zigzag balances causal work, contiguous keeps ranges whole.")
    var layout: Layout = .zigzag

    @Option(help: "Seconds a rank waits for a peer before the whole job is ended naming the peer.")
    var stepTimeout: Double = 600

    @Flag(help: "Print, per rank and layer, prefill compute time, time blocked on communication, bytes sent and received.")
    var stats = false

    func validate() throws {
        if !(stepTimeout > 0) { throw ValidationError("--step-timeout must be positive") }
    }
}

extension Layout: ExpressibleByArgument {}
