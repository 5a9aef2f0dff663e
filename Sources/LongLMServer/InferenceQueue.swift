import Foundation

/// One request's work for the inference thread, with its cancellation flag (set when the client goes away or the
/// server shuts down; the runner polls it between prefill steps and after every token).
public final class InferenceJob: @unchecked Sendable {
    let work: (InferenceJob) -> Void
    /// Called instead of `work` when the server shuts down before the job ran.
    let drop: () -> Void
    private let lock = NSLock()
    private var cancelled = false

    init(work: @escaping (InferenceJob) -> Void, drop: @escaping () -> Void) {
        self.work = work
        self.drop = drop
    }

    public var isCancelled: Bool { lock.withLock { cancelled } }
    public func cancel() { lock.withLock { cancelled = true } }
}

/// Requests wait here and run one at a time, in arrival order, on the thread that calls `run()`: the model's work
/// is synchronous and uses every core by itself, and under mpirun only the thread that joined MPI may talk to the
/// other ranks, so that thread (the main one) runs every job. At most `capacity` jobs wait; more are refused.
public final class InferenceQueue: @unchecked Sendable {
    public let capacity: Int
    private let condition = NSCondition()
    private var waiting: [InferenceJob] = []
    private var current: InferenceJob?
    private var closed = false

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Adds a job; false when `capacity` jobs already wait or the queue is closed.
    func submit(_ job: InferenceJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, waiting.count < capacity else { return false }
        waiting.append(job)
        condition.signal()
        return true
    }

    /// Jobs waiting (not counting the one running).
    public var depth: Int { condition.lock(); defer { condition.unlock() }; return waiting.count }

    public var isClosed: Bool { condition.lock(); defer { condition.unlock() }; return closed }

    /// Stops taking jobs: the running one is cancelled, the waiting ones are dropped, and `run()` returns.
    public func close() {
        condition.lock()
        closed = true
        let dropped = waiting
        waiting = []
        current?.cancel()
        condition.broadcast()
        condition.unlock()
        dropped.forEach { $0.drop() }
    }

    /// Runs jobs until `close()`. `idle` is called every `idleInterval` seconds while no job waits (under mpirun it
    /// tells the other ranks that rank 0 is alive).
    public func run(idleInterval: Double, idle: () throws -> Void) throws {
        while true {
            condition.lock()
            while waiting.isEmpty && !closed {
                if !condition.wait(until: Date(timeIntervalSinceNow: idleInterval)) && waiting.isEmpty && !closed {
                    condition.unlock()
                    try idle()
                    condition.lock()
                }
            }
            if closed {
                condition.unlock()
                return
            }
            let job = waiting.removeFirst()
            current = job
            condition.unlock()
            job.work(job)
            condition.lock()
            current = nil
            condition.unlock()
        }
    }
}
