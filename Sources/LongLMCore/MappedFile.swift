import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file. Weights are never copied out of it unless they must be
/// dequantized; ranks on one node share the pages.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let base: UnsafeRawPointer

    public enum Failure: Error, CustomStringConvertible {
        case cannotOpen(path: String, reason: String)
        case cannotMap(path: String, reason: String)
        public var description: String {
            switch self {
            case .cannotOpen(let path, let reason): return "cannot open \(path): \(reason)"
            case .cannotMap(let path, let reason): return "cannot memory-map \(path): \(reason)"
            }
        }
    }

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure.cannotOpen(path: path, reason: "not a regular file") }
        size = Int(info.st_size)
        if size == 0 {
            // mmap of length 0 fails; an empty file is still a valid (if useless) input for the parsers,
            // which then report "truncated" with the offset.
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw Failure.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if size > 0 { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        else { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }
}
