import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What the HTTP handlers share: the service once the model is loaded (nil before: `/health` answers 503), the
/// metrics, and the model's name.
public final class ServerState: @unchecked Sendable {
    public let metrics: ServerMetrics
    public let modelName: String
    public let started = Date()
    private let lock = NSLock()
    private var loadedService: CompletionService?

    public init(modelName: String, metrics: ServerMetrics) {
        self.modelName = modelName
        self.metrics = metrics
    }

    public var service: CompletionService? {
        get { lock.withLock { loadedService } }
        set { lock.withLock { loadedService = newValue } }
    }
}

/// The HTTP server on Hummingbird: it runs on its own threads (SwiftNIO's event loops) while the calling thread
/// does the model's work, and stops gracefully (open responses are finished) when `stop()` is called.
public final class HTTPServer: @unchecked Sendable {
    private let group: ServiceGroup
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var failure: Error?

    /// `onListening(port)` is called once the socket is bound (port 0 asks for a free one).
    public init(host: String, port: Int, maxBodyBytes: Int, state: ServerState, onListening: @escaping @Sendable (Int) -> Void) {
        let router = Router(context: ConnectionContext.self)
        CompletionRoutes(state: state, maxBodyBytes: maxBodyBytes).register(on: router)
        var logger = Logger(label: "longlm-dist.serve")
        logger.logLevel = .error
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "longlm-dist"),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) }, logger: logger)
        group = ServiceGroup(configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [],
                                                  cancellationSignals: [], logger: logger))
    }

    /// Starts serving in the background.
    public func start() {
        Task.detached { [self] in
            do { try await group.run() } catch { lock.withLock { failure = error } }
            finished.signal()
        }
    }

    /// Stops accepting connections, lets open responses finish, and returns when the server has stopped (with the
    /// error that stopped it, if any: a port already in use).
    public func stop() {
        Task.detached { [group] in await group.triggerGracefulShutdown() }
    }

    /// Blocks until the server has stopped; the error that stopped it, nil after a clean stop.
    public func wait() -> Error? {
        finished.wait()
        finished.signal()
        return lock.withLock { failure }
    }

    /// Whether the server has stopped (a failed bind stops it at once).
    public var hasStopped: Bool {
        if finished.wait(timeout: .now()) == .success { finished.signal(); return true }
        return false
    }
}
