import Foundation
import Prometheus

/// The server's counters and gauges, served at `GET /metrics` in Prometheus' text format.
public final class ServerMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let requests: Counter
    let rejected: Counter
    let failed: Counter
    let promptTokens: Counter
    let reusedPromptTokens: Counter
    let generatedTokens: Counter
    let prefillSeconds: Counter
    let decodeSeconds: Counter
    let prefillRate: Gauge
    let decodeRate: Gauge
    let queueDepth: Gauge
    let ringBlocked: [Gauge]

    /// `ranks`: one ring-blocked gauge per rank. Names are `longlm_<name>_<unit>`.
    public init(ranks: Int) {
        let registry = self.registry
        func counter(_ name: String, _ unit: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "longlm", metricName: name, unitName: unit, helpText: help))
        }
        func gauge(_ name: String, _ unit: String, _ help: String, labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "longlm", metricName: name, unitName: unit, helpText: help),
                               labels: labels)
        }
        requests = counter("requests", "total", "Completion requests answered in full.")
        rejected = counter("requests_rejected", "total", "Requests refused because the queue was full or the server was stopping.")
        failed = counter("requests_failed", "total", "Requests that were cancelled or failed after they were queued.")
        promptTokens = counter("prompt_tokens", "total", "Prompt tokens of answered requests.")
        reusedPromptTokens = counter("prompt_tokens_reused", "total",
                                     "Prompt tokens taken from the previous request's KV cache instead of prefilled.")
        generatedTokens = counter("generated_tokens", "total", "Tokens generated.")
        prefillSeconds = counter("prefill_seconds", "total", "Time spent prefilling prompts.")
        decodeSeconds = counter("decode_seconds", "total", "Time spent generating tokens.")
        prefillRate = gauge("prefill_tokens", "per_second", "Prefill speed of the last request (tokens prefilled, not reused).")
        decodeRate = gauge("decode_tokens", "per_second", "Decode speed of the last request.")
        queueDepth = gauge("queue", "depth", "Requests waiting behind the one running.")
        ringBlocked = (0..<max(1, ranks)).map {
            gauge("ring_blocked", "seconds", "Time the rank waited for ring blocks in the last request's prefill (0: none ran).",
                  labels: [("rank", String($0))])
        }
    }

    func record(_ summary: CompletionSummary) {
        requests.increment()
        promptTokens.increment(by: Int64(summary.promptTokens))
        reusedPromptTokens.increment(by: Int64(summary.reusedPromptTokens))
        generatedTokens.increment(by: Int64(summary.completionTokens))
        prefillSeconds.increment(by: summary.prefillSeconds)
        decodeSeconds.increment(by: summary.decodeSeconds)
        let prefilled = summary.promptTokens - summary.reusedPromptTokens
        if summary.prefillSeconds > 0 { prefillRate.set(Double(prefilled) / summary.prefillSeconds) }
        for (rank, seconds) in (summary.ringBlockedSeconds ?? []).enumerated() where rank < ringBlocked.count {
            ringBlocked[rank].set(seconds)
        }
        if summary.decodeSeconds > 0 && summary.completionTokens > 1 {
            decodeRate.set(Double(summary.completionTokens - 1) / summary.decodeSeconds)
        }
    }

    public func text() -> String { registry.emitToString() }
}
