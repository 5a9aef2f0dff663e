// swift-tools-version:6.0
import PackageDescription

// Dependencies point down this list: Core <- Attention <- Models <- (Distributed, Eval) <- the CLI.
let package = Package(
    name: "longlm-dist",
    products: [
        .executable(name: "longlm-dist", targets: ["longlm-dist"]),
        .library(name: "LongLMModels", targets: ["LongLMModels"]),
        // For the fuzz targets in Fuzz/ (a separate package that depends on this one by path).
        .library(name: "LongLMEval", targets: ["LongLMEval"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        // cpuid, xgetbv and arch_prctl: what this node lets a process run (read at run time, not build time).
        .target(name: "CLongLMCPU"),
        // The int8 kernels: plain C, each variant compiled with its own target attribute and chosen at run time.
        .target(name: "CLongLMKernels"),
        .target(name: "LongLMCore", dependencies: ["COpenBLAS", "CLongLMCPU", "CLongLMKernels"]),
        .target(name: "LongLMAttention", dependencies: ["LongLMCore"]),
        .target(name: "LongLMModels", dependencies: ["LongLMCore", "LongLMAttention"]),
        .target(name: "LongLMDistributed", dependencies: ["LongLMCore", "LongLMAttention", "LongLMModels", "CMPI"]),
        .target(name: "LongLMEval", dependencies: ["LongLMCore", "LongLMModels"]),
        // The HTTP server (`serve`): requests queued to one inference thread that drives any SequenceRunner.
        .target(name: "LongLMServer", dependencies: [
            "LongLMCore", "LongLMModels",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "longlm-dist", dependencies: [
            "LongLMModels", "LongLMAttention", "LongLMCore", "LongLMDistributed", "LongLMEval", "LongLMServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "LongLMCoreTests", dependencies: ["LongLMCore", "CLongLMKernels"],
                    resources: []),
        .testTarget(name: "LongLMAttentionTests", dependencies: ["LongLMAttention"]),
        .testTarget(name: "LongLMModelsTests", dependencies: ["LongLMModels"]),
        .testTarget(name: "LongLMDistributedTests", dependencies: ["LongLMDistributed", "LongLMModels"]),
        .testTarget(name: "LongLMEvalTests", dependencies: ["LongLMEval", "LongLMModels"]),
        .testTarget(name: "CLITests", dependencies: ["LongLMCore", "LongLMModels"]),
        .testTarget(name: "LongLMServerTests", dependencies: ["LongLMServer", "LongLMModels"]),
    ],
    swiftLanguageModes: [.v5]
)
