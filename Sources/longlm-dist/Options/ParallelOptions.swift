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
        // A step is one ring exchange or one decode allreduce: a week is already far past any real one.
        try OptionRange.checkFinite(stepTimeout, 0.001...604_800, "--step-timeout")
    }
}

extension Layout: ExpressibleByArgument {}
