import ChildProcess
import Foundation

// childprocess-probe once ours|foundation -- CMD [ARG...]
//   Runs CMD once with captured stdout and stderr, copies both to our stdout (stdout first)
//   and exits with CMD's status. Writes nothing to our stderr itself: whatever shows up there
//   came from the runner (Foundation's "Could not create wakeup socket pair" message).
// childprocess-probe time ours|foundation COUNT -- CMD [ARG...]
//   Runs CMD COUNT times and prints `per_run_us N` (wall time per run).

enum Runner: String { case ours, foundation }

func runOurs(_ argv: [String]) -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
    do {
        let r = try ChildProcess.run(.init(argv[0], arguments: Array(argv.dropFirst())))
        return (r.status, r.stdout, r.stderr)
    } catch {
        return (127, [], Array("probe: \(error)\n".utf8))
    }
}

/// The way Verifier's Shell ran programs before ChildProcess: Process, three pipes, both
/// outputs drained on Dispatch queues, then waitUntilExit. (Shell went through
/// /usr/bin/env; the path is resolved here instead so both runners exec the same program.)
func runFoundation(_ argv: [String]) -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ChildProcess.lookUp(argv[0]) ?? argv[0])
    p.arguments = Array(argv.dropFirst())
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    do { try p.run() } catch { return (127, [], Array("probe: \(error)\n".utf8)) }
    let group = DispatchGroup()
    nonisolated(unsafe) var o = Data(), e = Data()
    group.enter()
    DispatchQueue.global().async { o = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { e = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    try? inp.fileHandleForWriting.close()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, [UInt8](o), [UInt8](e))
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: childprocess-probe once|time ours|foundation [COUNT] -- CMD [ARG...]\n".utf8))
    exit(2)
}

var words = Array(CommandLine.arguments.dropFirst())
guard let dash = words.firstIndex(of: "--"), dash >= 2, dash + 1 < words.count,
      let runner = Runner(rawValue: words[1]) else { usage() }
let argv = Array(words[(dash + 1)...])
let run = runner == .ours ? runOurs : runFoundation
switch words[0] {
case "once":
    let r = run(argv)
    FileHandle.standardOutput.write(Data(r.stdout + r.stderr))
    exit(r.status)
case "time":
    guard dash == 3, let count = Int(words[2]), count > 0 else { usage() }
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<count {
        let r = run(argv)
        if r.status != 0 {
            FileHandle.standardError.write(Data("probe: \(argv[0]) exited \(r.status)\n".utf8))
            exit(1)
        }
    }
    let ns = DispatchTime.now().uptimeNanoseconds - start
    print("per_run_us \(ns / UInt64(count) / 1000)")
default:
    usage()
}
