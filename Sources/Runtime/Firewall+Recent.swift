import Compiler
import Foundation
import Loader

/// `ebpf-iptables recent NAME add|remove ADDR` / `clear`: what a write of `+ADDR`, `-ADDR`
/// or `/` to /proc/net/xt_recent/NAME does.
public enum RecentEdit: Equatable, Sendable, Codable {
    case add(String)
    case remove(String)
    case clear

    /// The line /proc/net/xt_recent/NAME takes for it (recent_mt_proc_write).
    var procText: String {
        switch self {
        case .add(let a): "+\(a)\n"
        case .remove(let a): "-\(a)\n"
        case .clear: "/\n"
        }
    }
}

/// The recent lists XDP keeps, through the pinned program (`recent` map) — the ones the
/// compiler gave to XDP (docs/recent.md); a list the kernel alone keeps is read from and
/// written to its /proc file only.
protocol RecentLayer {
    func recentEntries(_ name: String) throws -> [RecentEntry]
    func recentEdit(_ name: String, _ edit: RecentEdit, ringMask: UInt32) throws
}

extension PinnedXDP: RecentLayer {
    func recentEntries(_ name: String) throws -> [RecentEntry] { try dp.recentEntries(name) }
    func recentEdit(_ name: String, _ edit: RecentEdit, ringMask: UInt32) throws {
        switch edit {
        case .add(let a):
            guard let addr = DottedQuad.parse(a) else { throw RuntimeError.state("recent: '\(a)' is not an IPv4 address") }
            try dp.recentAdd(name, address: addr, now: try KernelJiffies.now(), ringMask: ringMask)
        case .remove(let a):
            guard let addr = DottedQuad.parse(a) else { throw RuntimeError.state("recent: '\(a)' is not an IPv4 address") }
            try dp.recentRemove(name, address: addr)
        case .clear:
            try dp.recentClear(name)
        }
    }
}

extension Firewall {
    /// Prints list `name` (every list XDP keeps when nil) as /proc/net/xt_recent prints it,
    /// or applies `edit` to XDP's copy and to the kernel's /proc file, so both layers agree.
    public func recent(name: String?, edit: RecentEdit?) throws -> ToolResult {
        try locked("ebpf-iptables recent") {
            let procDir = "/proc/net/xt_recent"
            var xdpLists: [String: UInt32] = [:] // name -> ring mask
            var layer: RecentLayer?
            if let (a, xdp) = try attached(), let r = xdp as? RecentLayer {
                layer = r
                let view = try readView()
                let p = program(for: view, interface: a.interface, options: store.compileOptions)
                let params = RecentModuleParams.current
                for f in p.result?.tables.fallback ?? [] {
                    for case .recent(let t) in f.ext {
                        xdpLists[t.name] = RecentTest.ringMask(hitcounts: t.listHitcounts, ipPktListTot: params.ipPktListTot)
                    }
                }
            }
            guard let edit else {
                let names = name.map { [$0] } ?? xdpLists.keys.sorted()
                var out = ""
                for n in names {
                    if name == nil { out += "# \(n)\n" }
                    if let layer, xdpLists[n] != nil {
                        for e in try layer.recentEntries(n) { out += e.procLine + "\n" }
                    } else if let text = try? String(contentsOfFile: "\(procDir)/\(n)", encoding: .utf8) {
                        out += text // the kernel's alone keeps it
                    } else {
                        return ToolResult(status: 1, stderr: "ebpf-iptables: recent: no list \(n)\n")
                    }
                }
                return ToolResult(status: 0, stdout: out)
            }
            guard let n = name else { return ToolResult(status: 2, stderr: "ebpf-iptables: recent: name the list to change\n") }
            // The kernel's first: it checks the address as /proc does; then XDP's copy.
            let path = "\(procDir)/\(n)"
            guard let h = FileHandle(forWritingAtPath: path) else {
                return ToolResult(status: 1, stderr: "ebpf-iptables: recent: no list \(n) in the kernel (\(path))\n")
            }
            do {
                try h.write(contentsOf: Data(edit.procText.utf8))
                try h.close()
            } catch {
                try? h.close()
                return ToolResult(status: 1, stderr: "ebpf-iptables: recent: the kernel refused '\(edit.procText.dropLast())' for \(n): \(error)\n")
            }
            if let layer, let mask = xdpLists[n] { try layer.recentEdit(n, edit, ringMask: mask) }
            return ToolResult(status: 0)
        }
    }
}
