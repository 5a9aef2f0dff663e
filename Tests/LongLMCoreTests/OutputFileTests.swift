import XCTest
import Foundation
@testable import LongLMCore

/// `OutputFile` writes where the path points, the way a shell redirection would, and says when it cannot.
final class OutputFileTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "longlm-output-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        chmod(directory, 0o755)
        try? FileManager.default.removeItem(atPath: directory)
    }

    func contents(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func fileType(_ path: String) -> mode_t {
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0, path)
        return info.st_mode & S_IFMT
    }

    func testSymbolicLinkIsFollowedAndStaysALink() throws {
        let target = directory + "/target.npy", link = directory + "/link.npy"
        try "old".write(toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target.npy")
        try OutputFile(link).write(Data("new".utf8))
        XCTAssertEqual(fileType(link), S_IFLNK)
        XCTAssertEqual(try contents(target), "new")
        // A dangling link creates its target, as `echo > link` does.
        let dangling = directory + "/dangling.npy"
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: directory + "/created.npy")
        try OutputFile(dangling).write(Data("made".utf8))
        XCTAssertEqual(fileType(dangling), S_IFLNK)
        XCTAssertEqual(try contents(directory + "/created.npy"), "made")
    }

    func testHardLinkedFileIsWrittenInPlaceSoEveryNameSeesIt() throws {
        let first = directory + "/a.npy", second = directory + "/b.npy"
        try "old".write(toFile: first, atomically: false, encoding: .utf8)
        XCTAssertEqual(link(first, second), 0)
        try OutputFile(first).write(Data("new contents".utf8))
        XCTAssertEqual(try contents(second), "new contents")
    }

    func testReadOnlyFileIsRefusedEvenForRootAndKeptAsItWas() throws {
        let path = directory + "/read-only.npy"
        try "keep".write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(path, 0o444), 0)
        XCTAssertThrowsError(try OutputFile(path).write(Data("new".utf8))) { error in
            XCTAssertEqual(error as? OutputFile.Failure, .readOnly(path: path))
            XCTAssertTrue("\(error)".contains("read-only"), "\(error)")
        }
        XCTAssertEqual(try contents(path), "keep")
        var info = stat()
        stat(path, &info)
        XCTAssertEqual(info.st_mode & 0o777, 0o444)
    }

    func testRegularFileIsReplacedWholeKeepingItsModeAndAnUncommittedWriteChangesNothing() throws {
        let path = directory + "/out.npy"
        try "old".write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(path, 0o640), 0)
        do {
            let writer = try OutputFile(path).replacing()
            try writer.write(Data("half".utf8))
            XCTAssertEqual(try contents(path), "old", "nothing shows before commit")
        }
        XCTAssertEqual(try contents(path), "old", "a dropped writer leaves the file as it was")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.npy"], "and no temporary file")
        try OutputFile(path).write(Data("whole".utf8))
        XCTAssertEqual(try contents(path), "whole")
        var info = stat()
        stat(path, &info)
        XCTAssertEqual(info.st_mode & 0o777, 0o640)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.npy"])
    }

    func testDeviceIsWrittenInPlaceAndAFullDeviceIsAnError() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        XCTAssertEqual(try OutputFile("/dev/full").kind, .special)
        XCTAssertThrowsError(try OutputFile("/dev/full").write(Data(count: 4096))) { error in
            XCTAssertEqual(error as? OutputFile.Failure, .system(path: "/dev/full", operation: "write", code: ENOSPC))
        }
        XCTAssertEqual(fileType("/dev/full"), S_IFCHR, "the device node is still a device")
        try OutputFile("/dev/null").write(Data("gone".utf8))
        XCTAssertEqual(fileType("/dev/null"), S_IFCHR)
    }

    func testFIFOIsWrittenInPlace() throws {
        let fifo = directory + "/pipe"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let received = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var read = Data()
        Thread.detachNewThread {
            let descriptor = open(fifo, O_RDONLY)
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let count = Glibc.read(descriptor, &buffer, buffer.count)
                if count <= 0 { break }
                read.append(contentsOf: buffer[0..<count])
            }
            close(descriptor)
            received.signal()
        }
        try OutputFile(fifo).write(Data("through the pipe".utf8))
        XCTAssertEqual(received.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(String(decoding: read, as: UTF8.self), "through the pipe")
        XCTAssertEqual(fileType(fifo), S_IFIFO)
    }

    func testDirectoryIsRefused() {
        XCTAssertThrowsError(try OutputFile(directory)) { XCTAssertEqual($0 as? OutputFile.Failure, .directory(path: directory)) }
    }

    func testSecondExclusiveLockNamesTheHolder() throws {
        let path = directory + "/results.jsonl", link = directory + "/other-name.jsonl"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        let first = try OutputFile(path).appending()
        try first.lockExclusively()
        let second = try OutputFile(link).appending()
        XCTAssertThrowsError(try second.lockExclusively()) { error in
            guard case .locked(let p, let holder)? = error as? OutputFile.Failure else { return XCTFail("\(error)") }
            XCTAssertEqual(p, link)
            XCTAssertTrue(holder?.hasPrefix("process \(getpid())") == true, String(describing: holder))
        }
        try first.commit()
        try second.lockExclusively()
    }

    func testNPYWriterStreamsThroughAnOutputFile() throws {
        let target = directory + "/logits.npy", link = directory + "/logits-link.npy"
        try "old".write(toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        try NPY.writeFloat32(path: link, shape: [2, 2], values: [1, 2, 3, 4])
        XCTAssertEqual(fileType(link), S_IFLNK)
        let (shape, values) = try NPY.read(path: target)
        XCTAssertEqual(shape, [2, 2])
        XCTAssertEqual(values, [1, 2, 3, 4])
    }
}
