// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for the parsers of untrusted input. A separate package so the root package's build is
// untouched; build and run with scripts/fuzz.sh (it passes -sanitize=fuzzer,address and -enable-testing, the
// latter so the targets can reach internal parsers with @testable import).
let targets = ["gguf", "safetensors", "config", "tokenizer", "pretokenizer", "batchjob"]

let package = Package(
    name: "longlm-fuzz",
    dependencies: [.package(name: "longlm-dist", path: "..")],
    targets: [
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
    ] + targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: [
                "FuzzSupport",
                .product(name: "LongLMModels", package: "longlm-dist"),
                .product(name: "LongLMEval", package: "longlm-dist"),
            ],
            path: "Sources/fuzz-\(name)",
            // libFuzzer supplies main(); the target only defines LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v5]
)
