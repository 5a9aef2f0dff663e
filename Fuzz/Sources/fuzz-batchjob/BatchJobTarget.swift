import FuzzSupport
import Foundation
import LongLMEval

// One line of a batch jobs file. The scratch directory holds no documents, so a relative document_path fails.
// Lines with an absolute document_path are skipped: parse reads whatever file the line names, and a device
// such as /dev/zero never ends (reported, not fixed here: BatchJob.swift belongs to the evaluation tools).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBatchJob(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let line = String(decoding: input(data, size), as: UTF8.self)
    if let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
       let path = object["document_path"] as? String, path.hasPrefix("/") { return 0 }
    _ = try? BatchJob.parse(line: line, directory: Scratch.directory)
    return 0
}
