import Foundation

/// Files the parsers under test read: they take paths, so each input is written to a per-process directory
/// (in /dev/shm when there is one, to keep the disk out of the loop).
public enum Scratch {
    public static let directory: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = "\(base)/longlm-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // libFuzzer ends a timed run with exit(), so the directory goes with it (a crash leaves it behind).
        atexit { try? FileManager.default.removeItem(atPath: Scratch.directory) }
        return path
    }()

    /// Writes `bytes` to `name` in the scratch directory, replacing what was there; returns the path.
    @discardableResult
    public static func write(_ bytes: UnsafeRawBufferPointer, to name: String) -> String {
        let path = "\(directory)/\(name)"
        guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
        if bytes.count > 0 { _ = fwrite(bytes.baseAddress, 1, bytes.count, f) }
        fclose(f)
        return path
    }

    public static func remove(_ name: String) { unlink("\(directory)/\(name)") }
}

/// The fuzzer's input as a buffer.
public func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
}
