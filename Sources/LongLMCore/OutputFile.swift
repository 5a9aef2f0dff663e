import Foundation

/// A file a command writes, looked at before anything is written so that writing does what the user's
/// shell would: a symbolic link is followed to its target; a regular file is replaced atomically (a
/// temporary file in the same directory, renamed over it, keeping its mode) so a crash leaves the old
/// contents or the new, never half; a file with other hard links, and a device, FIFO or socket, is
/// written in place (renaming would detach the other names, or replace the node); a target without any
/// write permission bit is refused even for root, who the kernel would otherwise let through; every
/// failed write is an error (ENOSPC from /dev/full included).
public struct OutputFile: CustomStringConvertible, Sendable {
    /// The path as given.
    public let path: String
    /// The path with every symbolic link followed: the file that is written.
    public let target: String
    public let kind: Kind

    public enum Kind: Equatable, Sendable {
        /// Nothing there yet (a dangling symbolic link counts: its target is created).
        case absent
        case regular(links: Int)
        /// A character or block device, FIFO or socket.
        case special
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case readOnly(path: String)
        case directory(path: String)
        case symbolicLinkLoop(path: String)
        case system(path: String, operation: String, code: Int32)
        case locked(path: String, holder: String?)

        public var description: String {
            switch self {
            case .readOnly(let p): return "\(p) is read-only; make it writable (chmod u+w) or choose another output"
            case .directory(let p): return "\(p) is a directory; give a file name"
            case .symbolicLinkLoop(let p): return "\(p): too many levels of symbolic links"
            case .system(let p, let operation, let code): return "cannot \(operation) \(p): \(String(cString: strerror(code)))"
            case .locked(let p, let holder):
                return "\(p) is in use by \(holder ?? "another process"): another run is writing it; wait for it to end or choose another output"
            }
        }
    }

    public var description: String { path == target ? path : "\(path) (-> \(target))" }

    public init(_ path: String) throws {
        self.path = path
        target = try Self.followingLinks(path)
        var info = stat()
        guard stat(target, &info) == 0 else {
            guard errno == ENOENT else { throw Failure.system(path: path, operation: "inspect", code: errno) }
            kind = .absent
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw Failure.directory(path: path)
        case S_IFREG: kind = .regular(links: Int(info.st_nlink))
        default: kind = .special
        }
        if info.st_mode & 0o222 == 0 || access(target, W_OK) != 0 { throw Failure.readOnly(path: path) }
    }

    /// `path` with symbolic links followed one by one (a dangling link gives the path it points to).
    static func followingLinks(_ path: String) throws -> String {
        var current = path
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0 else {
                if errno == ENOENT { return current }
                throw Failure.system(path: path, operation: "inspect", code: errno)
            }
            guard info.st_mode & S_IFMT == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count >= 0 else { throw Failure.system(path: path, operation: "read the link", code: errno) }
            let link = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = link.hasPrefix("/") ? link : ((current as NSString).deletingLastPathComponent as NSString).appendingPathComponent(link)
        }
        throw Failure.symbolicLinkLoop(path: path)
    }

    /// A writer whose contents replace the file's when `commit()` succeeds.
    public func replacing() throws -> Writer {
        switch kind {
        case .special:
            return try Writer(path: path, descriptor: open(target: target, flags: O_WRONLY), temporary: nil, target: target)
        case .regular(let links) where links > 1:
            return try Writer(path: path, descriptor: open(target: target, flags: O_WRONLY | O_TRUNC), temporary: nil, target: target)
        case .absent, .regular:
            let directory = (target as NSString).deletingLastPathComponent
            let name = "." + (target as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let temporary = directory.isEmpty ? name : (directory as NSString).appendingPathComponent(name)
            let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard descriptor >= 0 else {
                let code = errno
                // A writable file in a directory that refuses new files: the shell's way, in place.
                if kind != .absent && (code == EACCES || code == EPERM || code == EROFS) {
                    return try Writer(path: path, descriptor: open(target: target, flags: O_WRONLY | O_TRUNC), temporary: nil, target: target)
                }
                throw Failure.system(path: path, operation: "create a file beside", code: code)
            }
            var info = stat()
            if kind != .absent && stat(target, &info) == 0 {
                fchmod(descriptor, info.st_mode & 0o7777)
                _ = fchown(descriptor, info.st_uid, info.st_gid)   // only root can; others keep their own ownership
            }
            return Writer(path: path, descriptor: descriptor, temporary: temporary, target: target)
        }
    }

    /// A writer that appends to the file (created if absent), for logs of whole records.
    public func appending() throws -> Writer {
        try Writer(path: path, descriptor: open(target: target, flags: O_WRONLY | O_CREAT | O_APPEND), temporary: nil, target: target)
    }

    /// Writes `data` as the file's whole contents.
    public func write(_ data: Data) throws {
        let writer = try replacing()
        try writer.write(data)
        try writer.commit()
    }

    private func open(target: String, flags: Int32) throws -> Int32 {
        let descriptor = Glibc.open(target, flags | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { throw Failure.system(path: path, operation: "open", code: errno) }
        return descriptor
    }

    /// An open output. Dropping it (or exiting) before `commit()` leaves the target as it was when it was
    /// being replaced atomically.
    public final class Writer {
        public let path: String
        let target: String
        let descriptor: Int32
        let temporary: String?
        private var closed = false

        init(path: String, descriptor: Int32, temporary: String?, target: String) {
            self.path = path
            self.descriptor = descriptor
            self.temporary = temporary
            self.target = target
            if let temporary { PendingFiles.shared.add(temporary) }
        }

        deinit {
            if !closed { Glibc.close(descriptor) }
            if let temporary, !closed || PendingFiles.shared.contains(temporary) {
                unlink(temporary)
                PendingFiles.shared.remove(temporary)
            }
        }

        var isRegularFile: Bool {
            var info = stat()
            return fstat(descriptor, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure.system(path: path, operation: "write", code: errno)
                }
                offset += written
            }
        }

        public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }

        /// Writes one record with a single write(2), so that with O_APPEND readers and a `kill -9` see it whole
        /// or not at all; then flushes it to the disk.
        public func appendRecord(_ data: Data) throws {
            let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard written == data.count else {
                throw written < 0 ? Failure.system(path: path, operation: "write", code: errno)
                    : Failure.system(path: path, operation: "write all of a record to", code: EIO)
            }
            if isRegularFile && fsync(descriptor) != 0 { throw Failure.system(path: path, operation: "flush", code: errno) }
        }

        /// Cuts a regular file to `length` bytes.
        public func truncate(to length: Int) throws {
            guard ftruncate(descriptor, off_t(length)) == 0 else { throw Failure.system(path: path, operation: "truncate", code: errno) }
        }

        /// Holds an exclusive lock on the file until the writer is closed; another holder is an error naming
        /// it (the lock belongs to the open file, so every link to the same file shares it).
        public func lockExclusively() throws {
            guard flock(descriptor, LOCK_EX | LOCK_NB) != 0 else { return }
            let code = errno
            guard code == EWOULDBLOCK else { throw Failure.system(path: path, operation: "lock", code: code) }
            throw Failure.locked(path: path, holder: Self.lockHolder(descriptor))
        }

        /// The process holding a flock on the file, from /proc/locks (Linux), with its command line.
        static func lockHolder(_ descriptor: Int32) -> String? {
            var info = stat()
            guard fstat(descriptor, &info) == 0, let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
            let dev = UInt64(info.st_dev)
            let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
            let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
            let file = String(format: "%02x:%02x:%llu", major, minor, UInt64(info.st_ino))
            for line in locks.split(separator: "\n") where !line.contains("->") {
                let fields = line.split(separator: " ")
                guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == file, let pid = Int32(fields[4]) else { continue }
                let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
                    .map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") }
                return "process \(pid)" + (command.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
            }
            return nil
        }

        /// Flushes and closes the file; a replaced file takes its new contents here.
        public func commit() throws {
            guard !closed else { return }
            closed = true
            if isRegularFile && fsync(descriptor) != 0 {
                let code = errno
                Glibc.close(descriptor)
                throw Failure.system(path: path, operation: "flush", code: code)
            }
            guard Glibc.close(descriptor) == 0 else { throw Failure.system(path: path, operation: "write", code: errno) }
            if let temporary {
                guard rename(temporary, target) == 0 else { throw Failure.system(path: path, operation: "replace", code: errno) }
                PendingFiles.shared.remove(temporary)
            }
        }
    }
}

/// Temporary files not yet renamed into place, removed if the process exits first (an error ends the
/// command with exit(), which runs no deinitializers).
final class PendingFiles: @unchecked Sendable {
    static let shared: PendingFiles = {
        atexit { PendingFiles.shared.removeAll() }
        return PendingFiles()
    }()
    private let lock = NSLock()
    private var paths: Set<String> = []

    func add(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }
    func contains(_ path: String) -> Bool { lock.withLock { paths.contains(path) } }
    func removeAll() { lock.withLock { for path in paths { unlink(path) }; paths = [] } }
}
