import ArgumentParser
import Foundation
import IptParse

/// `ebpf-ipset add|del SET ENTRY [-exist]`: one member, applied live. A single IPv4 address
/// in a hash:ip/hash:net set goes through LiveFastPath; anything else recompiles.
struct IpsetMember: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "member", shouldDisplay: false)

    static func run(add: Bool, _ args: [String]) -> Int32 {
        var exist = false, quiet = false
        var words: [String] = []
        for a in args {
            switch a {
            case "-exist", "--exist": exist = true
            case "-q", "-quiet", "--quiet": quiet = true
            default: words.append(a)
            }
        }
        guard words.count == 2 else {
            if !quiet { Diagnostics.fail("ipset v7.17: Syntax error: \(add ? "add" : "del") needs SETNAME and ENTRY\nTry `ipset help' for more help.") }
            return 2
        }
        let store = StateStore(paths: .current)
        do {
            return try store.locked { () throws -> Int32 in
                let message: String
                if let m = try LiveFastPath.setMember(add ? .add : .del, set: words[0], member: words[1], exist: exist, store: store) {
                    message = m
                } else {
                    var sets = try LiveCommit.currentSets(store)
                    let line = "\(add ? "add" : "del") \(exist ? "-exist " : "")\(words[0]) \(words[1])\n"
                    do {
                        sets = try IpsetParser.parse(IpsetPrinter.save(sets) + line, file: "<argv>")
                    } catch {
                        if !quiet { Diagnostics.fail("ipset v7.17: \(error)") }
                        return 1
                    }
                    try LiveCommit.sets(sets, store: store)
                    message = ""
                }
                if !message.isEmpty {
                    if !quiet { Diagnostics.fail("ipset v7.17: \(message)") }
                    return 1
                }
                return 0
            }
        } catch {
            Diagnostics.fail("ebpf-ipset: \(error)")
            return 1
        }
    }
}
