import Foundation
import LongLMAttention
import LongLMCore

/// Causal attention of this rank's queries over every rank's keys, with the keys travelling around the
/// ring (pass-KV; ring-flash-attention's loop): at step s a rank holds the block that started on rank
/// (rank - s) mod N, sends it on to rank + 1 and receives the next one from rank - 1 while it computes.
/// Keys travel before RoPE, with their positions; each step adds to the queries' online-softmax state, and
/// since a score depends only on (i, j, q_i, k_j) the result equals the single-process one.
public struct RingAttention {
    public let communicator: any Communicator
    /// Seconds a step may wait for its neighbour before the job is ended naming it.
    public var stepTimeout: Double
    /// Key sub-blocks per step; the exchange is polled between them so it progresses during compute.
    public var progressSlices = 4
    /// Where to account time and bytes (`--stats`), if anywhere.
    public var statistics: RingStatistics?

    public init(communicator: any Communicator, stepTimeout: Double) {
        self.communicator = communicator
        self.stepTimeout = stepTimeout
    }

    /// - Parameters:
    ///   - call: this rank's queries over its own block of keys (`call.keys.positions == shards[rank]`).
    ///   - shards: the key positions every rank holds (all ranks know the layout), so receive sizes are known.
    /// With a sliding window no ring runs: each rank sends every other rank just the keys that rank's queries
    /// can see (its shard's queries are its keys' positions, as in a prefill), which for long shards is the
    /// last window - 1 keys before each chunk.
    public func attend(_ call: AttentionCall, shards: [[Int32]], output: UnsafeMutablePointer<Float>) throws {
        let ranks = communicator.size, rank = communicator.rank
        precondition(shards.count == ranks && shards[rank] == call.keys.positions)
        if let window = call.window, ranks > 1 {
            try attendWindowed(call, shards: shards, window: window, output: output)
            return
        }
        let layer = call.layer
        let keyCounts = shards.map(\.count)
        let width = call.keys.keys.width, type = call.keys.keys.type
        var partial = AttentionPartial(tokens: call.queryPositions.count, heads: call.shape.heads, headDim: call.shape.headDim)
        // Two stable buffers of the largest block, in the cache's storage type.
        let largest = keyCounts.max() ?? 0
        var current = KVBlock(count: largest, type: type, width: width), next = KVBlock(count: largest, type: type, width: width)
        defer { current.deallocate(); next.deallocate() }
        current.fill(call.keys)

        for step in 0..<ranks {
            let holder = (rank - step + ranks) % ranks      // the rank this block started on
            var exchange: PendingExchange? = nil
            let started = Date()
            if step < ranks - 1 {
                let incoming = keyCounts[(rank - step - 1 + 2 * ranks) % ranks]
                let sent = KVBlock.bytes(count: keyCounts[holder], type: type, width: width)
                let received = KVBlock.bytes(count: incoming, type: type, width: width)
                exchange = try communicator.startExchange(
                    send: current.bytes(count: keyCounts[holder]), to: (rank + 1) % ranks,
                    receive: next.mutableBytes(count: incoming), from: (rank - 1 + ranks) % ranks, tag: layer)
                statistics?.record(layer: layer, sent: sent, received: received)
            }
            try accumulate(call.over(current.block(count: keyCounts[holder])), into: &partial, exchange: exchange)
            let computed = Date()
            if let exchange { try communicator.wait(exchange, timeout: stepTimeout) }
            statistics?.record(layer: layer, compute: computed.timeIntervalSince(started), blocked: Date().timeIntervalSince(computed))
            swap(&current, &next)
        }
        partial.finish(into: output)
    }

    /// Indices (ascending) of the keys at `keyPositions` that some query at `queryPositions` sees through a
    /// causal sliding window: 0 <= i - j < window.
    public static func visibleKeys(_ keyPositions: [Int32], to queryPositions: [Int32], window: Int) -> [Int] {
        let queries = queryPositions.sorted()
        return keyPositions.indices.filter { index in
            let j = keyPositions[index]
            // The first query at or after j is the one most likely to see it.
            var lo = 0, hi = queries.count
            while lo < hi { let mid = (lo + hi) / 2; if queries[mid] < j { lo = mid + 1 } else { hi = mid } }
            return lo < queries.count && Int(queries[lo] - j) < window
        }
    }

    /// Sliding-window layers: every pair of ranks exchanges only the keys the receiver can see, all
    /// exchanges in flight at once while this rank attends its own keys.
    func attendWindowed(_ call: AttentionCall, shards: [[Int32]], window: Int, output: UnsafeMutablePointer<Float>) throws {
        let ranks = communicator.size, rank = communicator.rank, layer = call.layer
        let own = call.keys, width = own.keys.width, type = own.keys.type
        var partial = AttentionPartial(tokens: call.queryPositions.count, heads: call.shape.heads, headDim: call.shape.headDim)
        let started = Date()
        // Offset d: send to rank + d the keys it sees, receive from rank - d the keys this rank sees.
        var pending: [(exchange: PendingExchange, incoming: KVBlock, count: Int, outgoing: KVBlock)] = []
        defer { for p in pending { p.incoming.deallocate(); p.outgoing.deallocate() } }
        for offset in 1..<ranks {
            let destination = (rank + offset) % ranks, source = (rank - offset + ranks) % ranks
            let outgoing = Self.visibleKeys(own.positions, to: shards[destination], window: window)
            let incomingCount = Self.visibleKeys(shards[source], to: shards[rank], window: window).count
            let send = KVBlock(count: outgoing.count, type: type, width: width)
            send.fill(rows: outgoing, of: own)
            let receive = KVBlock(count: incomingCount, type: type, width: width)
            let exchange = try communicator.startExchange(
                send: send.bytes(count: outgoing.count), to: destination,
                receive: receive.mutableBytes(count: incomingCount), from: source, tag: layer)
            pending.append((exchange, receive, incomingCount, send))
            statistics?.record(layer: layer, sent: KVBlock.bytes(count: outgoing.count, type: type, width: width),
                               received: KVBlock.bytes(count: incomingCount, type: type, width: width))
        }
        if own.count > 0 { TiledAttention.accumulate(call, into: &partial) }
        var blocked = 0.0
        for p in pending {
            let waiting = Date()
            try communicator.wait(p.exchange, timeout: stepTimeout)
            blocked += Date().timeIntervalSince(waiting)
            if p.count > 0 { TiledAttention.accumulate(call.over(p.incoming.block(count: p.count)), into: &partial) }
        }
        statistics?.record(layer: layer, compute: Date().timeIntervalSince(started) - blocked, blocked: blocked)
        partial.finish(into: output)
    }

    /// One ring step's keys, in slices so the exchange is driven between them while the step computes.
    func accumulate(_ call: AttentionCall, into partial: inout AttentionPartial, exchange: PendingExchange?) throws {
        let count = call.keys.count
        let slices = exchange == nil ? 1 : max(1, min(progressSlices, count))
        for slice in 0..<slices {
            let lo = count * slice / slices, hi = count * (slice + 1) / slices
            if lo < hi { TiledAttention.accumulate(call.over(call.keys.rows(lo..<hi)), into: &partial) }
            if let exchange { _ = try communicator.test(exchange) }   // drive the transfer between slices
        }
    }
}

/// A travelling block of keys with their positions, in one stable allocation (safe for nonblocking MPI):
/// [positions Int32 x n | keys n x rowBytes | values n x rowBytes], rows as the KV cache stores them.
struct KVBlock {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    let type: KVType
    let width: Int

    init(count: Int, type: KVType, width: Int) {
        self.type = type
        self.width = width
        capacity = max(Self.bytes(count: count, type: type, width: width), 16)
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }
    func deallocate() { base.deallocate() }

    static func bytes(count: Int, type: KVType, width: Int) -> Int { count * 4 + 2 * count * type.bytes(width) }
    var rowBytes: Int { type.bytes(width) }

    /// Copies a whole block of keys and values (with their positions).
    func fill(_ block: KeyValueBlock) {
        let n = block.count
        precondition(block.keys.type == type && block.keys.width == width)
        block.positions.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        (base + n * 4).copyMemory(from: block.keys.base, byteCount: n * rowBytes)
        (base + n * 4 + n * rowBytes).copyMemory(from: block.values.base, byteCount: n * rowBytes)
    }
    /// Copies the given rows of a block of keys and values (with their positions).
    func fill(rows: [Int], of block: KeyValueBlock) {
        let n = rows.count, rowBytes = self.rowBytes
        precondition(block.keys.type == type && block.keys.width == width)
        let p = base.assumingMemoryBound(to: Int32.self)
        let k = base + n * 4, v = base + n * 4 + n * rowBytes
        for (i, row) in rows.enumerated() {
            p[i] = block.positions[row]
            (k + i * rowBytes).copyMemory(from: block.keys.base + row * rowBytes, byteCount: rowBytes)
            (v + i * rowBytes).copyMemory(from: block.values.base + row * rowBytes, byteCount: rowBytes)
        }
    }
    /// The block's keys as an attention block (pointers into this buffer).
    func block(count: Int) -> KeyValueBlock {
        KeyValueBlock(keys: KVRows(base: base + count * 4, type: type, width: width),
                      values: KVRows(base: base + count * 4 + count * rowBytes, type: type, width: width),
                      positions: Array(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Int32.self), count: count)))
    }
    func bytes(count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: Self.bytes(count: count, type: type, width: width))
    }
    func mutableBytes(count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base, count: Self.bytes(count: count, type: type, width: width))
    }
}

/// Decode on sharded keys: every rank attends the new token's query over its own shard, then one
/// max-allreduce and one sum-allreduce merge the online-softmax states, so every rank has the output.
public enum ShardedDecode {
    public static func attend(_ call: AttentionCall, communicator: any Communicator, timeout: Double,
                              output: UnsafeMutablePointer<Float>) throws {
        var partial = AttentionPartial(tokens: call.queryPositions.count, heads: call.shape.heads, headDim: call.shape.headDim)
        TiledAttention.accumulate(call, into: &partial)
        var maxima = partial.maxima
        try maxima.withUnsafeMutableBufferPointer { try communicator.allReduce($0, operation: .max, timeout: timeout) }
        partial.rescale(toMaxima: maxima)
        // One reduction of [sums | accumulator].
        var packed = partial.sums + partial.accumulator
        try packed.withUnsafeMutableBufferPointer { try communicator.allReduce($0, operation: .sum, timeout: timeout) }
        partial.sums = Array(packed[0..<partial.sums.count])
        partial.accumulator = Array(packed[partial.sums.count...])
        partial.finish(into: output)
    }
}
