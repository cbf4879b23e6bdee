// The lean front of the multi-call names for live edits (docs/agent.md, "The lean client").
// An edit through the agent costs the client's own start-up: the full binary (Foundation,
// ArgumentParser, libbpf and libelf linked dynamically, 80+ MB of relocations) needs ~3.8 ms
// just to start and exit, more than the kernel's `ipset add` takes in all. This program links
// nothing but the Swift runtime and Glibc: it sends iptables' and ipset's argv to the agent
// over the control socket (the protocol of Sources/Agent/ControlSocketProtocol.swift, JSON
// written and read here by hand) and prints the answer; for everything else, and whenever
// no agent answers, it execs the full binary beside it with the same argv, which then works
// alone exactly as before.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let args = CommandLine.arguments
let argv0 = args.first.map { String($0.split(separator: "/", omittingEmptySubsequences: false).last ?? "") } ?? ""
let words = Array(args.dropFirst())

func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// The full binary, beside this one (symlinks resolved), with our argv untouched: its
/// argv[0] still picks the tool.
func execFull(_ args: [String]) -> Never {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    var dir = "."
    if n > 0 {
        let me = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let slash = me.lastIndex(of: "/") { dir = String(me[..<slash]) }
    }
    let full = dir + "/ebpf-iptables"
    var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
    cargs.append(nil)
    execv(full, &cargs)
    let msg = "ebpf-iptables: cannot run \(full): \(String(cString: strerror(errno)))\n"
    _ = msg.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

/// The request as FirewallRequest's Codable form, or nil when this one is the full binary's.
func request(_ argv0: String, _ words: [String]) -> String? {
    func ipset(_ a: [String]) -> String? {
        // `ipset restore` from standard input: read it here, as the full binary would.
        let restore = a.contains { $0 == "restore" || $0 == "-R" } && !a.contains { $0 == "-file" || $0 == "-f" }
        var stdin = ""
        if restore {
            var chunk = [UInt8](repeating: 0, count: 65536)
            var bytes: [UInt8] = []
            while true {
                let r = read(0, &chunk, chunk.count)
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { break }
                bytes += chunk[0..<r]
            }
            stdin = ",\"stdin\":" + JSON.quote(String(decoding: bytes, as: UTF8.self))
        }
        return "{\"ipset\":{\"argv\":\(JSON.array(a))\(stdin)}}"
    }
    func iptables(_ a: [String], _ family: String) -> String {
        "{\"iptables\":{\"argv\":\(JSON.array(a)),\"family\":\"\(family)\"}}"
    }
    switch argv0 {
    case "ebpf-ipset", "ipset": return ipset(words)
    case "ebpf-ip6tables", "ip6tables": return iptables(words, "ipv6")
    case "iptables": return iptables(words, "ipv4")
    case "ebpf-iptables":
        if words.first == "ipset" { return ipset(Array(words.dropFirst())) }
        // The same words as Main.parserOwn: ArgumentParser's own (completions, manual pages)
        // go to the full binary, never to the agent as iptables argv.
        if let first = words.first, first.hasPrefix("-"), !["--help", "-h", "--version"].contains(first),
           first != "--experimental-dump-help", first != "---completion", !first.hasPrefix("--generate-completion-script") {
            return iptables(words, "ipv4")
        }
        return nil
    default: return nil
    }
}

if let v = env("EBPF_IPTABLES_NO_AGENT"), !v.isEmpty, v != "0" { execFull(args) }
guard let body = request(argv0, words) else { execFull(args) }
let stateDir = env("EBPF_IPTABLES_STATE") ?? "/var/lib/ebpf-iptables"
let pinRoot = env("EBPF_IPTABLES_BPFFS") ?? "/sys/fs/bpf/ebpf-iptables"
let socketPath = stateDir + "/agent.sock"
guard let fd = Wire.connect(socketPath) else { execFull(args) }
var cwdBuf = [CChar](repeating: 0, count: 4096)
let cwd = getcwd(&cwdBuf, cwdBuf.count) != nil ? String(cString: cwdBuf) : "/"
let message = "{\"request\":\(body),\"stateDir\":\(JSON.quote(stateDir)),\"pinRoot\":\(JSON.quote(pinRoot)),\"cwd\":\(JSON.quote(cwd))}"

func fail(_ text: String, _ status: Int32) -> Never {
    Wire.writeAll(2, Array(("ebpf-iptables: " + text + "\n").utf8))
    exit(status)
}

guard Wire.send(fd, Array(message.utf8)) else { fail("agent at \(socketPath): control socket: write failed", 1) }
guard let answer = Wire.receive(fd) else {
    fail("agent at \(socketPath): the agent closed the connection before answering (the request may or may not have been applied)", 1)
}
close(fd)
var parser = JSON.Parser(answer)
guard case .object(let top)? = parser.parse() else { fail("agent at \(socketPath): unreadable answer", 1) }
if case .object(let r)? = top["result"], case .object(let tool)? = r["_0"],
   case .number(let status)? = tool["status"], case .string(let out)? = tool["stdout"], case .string(let err)? = tool["stderr"] {
    Wire.writeAll(1, Array(out.utf8))
    Wire.writeAll(2, Array(err.utf8))
    exit(Int32(status))
}
if case .object(let f)? = top["failure"], case .string(let text)? = f["message"], case .number(let status)? = f["status"] {
    fail(text, Int32(status))
}
// "runLocally", or anything this client does not know: the full binary decides.
execFull(args)
