import Compiler
import Foundation
import Loader

/// What one member of a set gets in XDP's tables, compiled once per ruleset and kept in the
/// state directory (`set-bindings.<hex of the set's name>`), so that `ipset add SET a.b.c.d`
/// needs neither a parse of the ruleset nor a compile: MemberFastPath compiles the rules with
/// the set holding one sentinel address and reads the sentinel's entries; those depend only
/// on the rules, the sets' definitions (never their members), the interface and the compile
/// options, which the record's key holds (their FNV-1a hash and lengths). Any change to one
/// of them gives another key: the record is then computed again and replaced. A record that
/// cannot be read is simply computed again.
struct SetBindingsRecord: Equatable {
    /// What the sentinel's compile said.
    enum Outcome: Equatable {
        /// Members of the set take these entries (the source replaced by the member's
        /// address); empty: no rule uses the set where XDP decides.
        case bindings([Binding])
        /// Not provably exact one entry at a time (a negated use, or a rule naming the
        /// sentinel): the whole path.
        case inexact
    }

    /// One entry a member takes: its /32 alone (`port == nil && proto == nil`) or with a
    /// protocol and port, at `position`.
    struct Binding: Equatable {
        var protoPort: CompiledTables.ProtoPort?
        var position: UInt32

        func key(_ address: UInt32) -> LiveKey {
            let host = CompiledTables.Prefix(address: address, length: 32)
            guard let protoPort else { return .source(host) }
            return .sourceProtoPort(CompiledTables.SourceProtoPort(source: host, protoPort: protoPort))
        }
    }

    var key: String
    var outcome: Outcome

    /// The key for `set` under these inputs.
    /// The live generation is part of it: every whole install (the only writer of a whole
    /// generation's positions) voids the records, so a record never outlives the tables it
    /// was computed beside (nor a change of binary, whose first whole install recompiles).
    static func key(set: String, rulesText: String, creates: String, interface: String, options: CompileOptions,
                    generation: UInt32?) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) {
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0xff) &* 0x100_0000_01b3 // a separator no UTF-8 text holds
        }
        mix(set); mix(rulesText); mix(creates); mix(interface)
        mix(options.rejectAsDrop ? "reject-as-drop" : "-"); mix(options.xdpOnly ? "xdp-only" : "-")
        mix(executable)
        return "v1 \(String(h, radix: 16)) \(rulesText.utf8.count) \(creates.utf8.count) \(generation.map { String($0) } ?? "-")"
    }

    /// This binary (device, inode, size, modification time): another build may compile
    /// the same rules to other positions.
    static let executable: String = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return "?" }
        return "\(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }()

    /// bench/ipset-one-at-a-time measures the path without records in the same run
    /// (EBPF_IPTABLES_BENCH_NO_RECORD=1: every add compiles, as before).
    static let disabled: Bool = getenv("EBPF_IPTABLES_BENCH_NO_RECORD").map { $0.pointee != 0 } ?? false

    static func path(_ store: StateStore, set: String) -> String {
        let hex = Array("0123456789abcdef")
        return store.paths.stateDir + "/set-bindings." + String(set.utf8.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] })
    }

    /// The record kept for `set`, when its key is `key`.
    static func read(_ store: StateStore, set: String, key: String) -> SetBindingsRecord? {
        guard !disabled, let text = store.read(path(store, set: set)) else { return nil }
        return SetBindingsRecord(text: text).flatMap { $0.key == key ? $0 : nil }
    }

    /// Best effort: without it, the next add compiles again.
    func write(_ store: StateStore, set: String) {
        guard !Self.disabled else { return }
        try? store.write(text, to: Self.path(store, set: set))
    }

    init(key: String, outcome: Outcome) {
        self.key = key
        self.outcome = outcome
    }

    /// Line 1 the key; then `inexact`, or one line per binding: `host POSITION` or
    /// `port PROTO PORT|any POSITION`; the last line `end` (a torn file is no record).
    var text: String {
        var lines = [key]
        switch outcome {
        case .inexact: lines.append("inexact")
        case .bindings(let bs):
            for b in bs {
                if let pp = b.protoPort {
                    lines.append("port \(pp.proto) \(pp.port.map { String($0) } ?? "any") \(b.position)")
                } else {
                    lines.append("host \(b.position)")
                }
            }
        }
        lines.append("end")
        return lines.joined(separator: "\n") + "\n"
    }

    init?(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, lines[lines.count - 1].isEmpty, lines[lines.count - 2] == "end" else { return nil }
        key = lines[0]
        let body = lines[1..<(lines.count - 2)]
        if body.count == 1, body.first == "inexact" {
            outcome = .inexact
            return
        }
        var bs: [Binding] = []
        for line in body {
            let w = line.split(separator: " ").map(String.init)
            if w.count == 2, w[0] == "host", let p = UInt32(w[1]) {
                bs.append(Binding(protoPort: nil, position: p))
            } else if w.count == 4, w[0] == "port", let proto = UInt8(w[1]), let p = UInt32(w[3]) {
                let port: UInt16?
                if w[2] == "any" { port = nil } else if let n = UInt16(w[2]) { port = n } else { return nil }
                bs.append(Binding(protoPort: CompiledTables.ProtoPort(proto: proto, port: port), position: p))
            } else {
                return nil
            }
        }
        outcome = .bindings(bs)
    }
}
