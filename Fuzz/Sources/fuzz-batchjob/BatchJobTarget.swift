import FuzzSupport
import Foundation
import LongLMEval

// One line of a batch jobs file. The scratch directory holds no documents, so a relative document_path fails.
// Lines whose document_path leaves the scratch directory are skipped: parse reads whatever file a line names,
// and the fuzzer must not read (or block on a FIFO among) the machine's files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBatchJob(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let line = String(decoding: input(data, size), as: UTF8.self)
    if let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
       let path = object["document_path"] as? String, path.hasPrefix("/") || path.contains("..") { return 0 }
    _ = try? BatchJob.parse(line: line, directory: Scratch.directory)
    return 0
}
