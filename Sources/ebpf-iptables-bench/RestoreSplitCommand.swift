import Compiler
import Foundation
import IptParse
import Loader

/// `restore-split --ipset FILE --rules FILE`: the user-space steps of `ebpf-iptables
/// restore` for one ruleset, each timed on its own in this process (wall clock, seconds):
/// reading the files, parsing the ipset text, parsing the rules, compiling, and writing the
/// compiled tables into a freshly loaded XDP program's maps. The restore command does one
/// such pass over the files (its prediction) and one over what the kernel hands back
/// (`iptables-save`, `ipset save`); scripts/bench subtracts the kernel tools' time from the
/// whole command and sets these figures against the rest. Prints `key value` lines.
struct RestoreSplitCommand {
    static let usage = "restore-split --ipset FILE --rules FILE"

    let ipsetPath: String
    let rulesPath: String

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        ipsetPath = try o.string("ipset")
        rulesPath = try o.string("rules")
    }

    func run() throws {
        let ((setsText, rulesText), read) = try timed {
            (try String(contentsOfFile: ipsetPath, encoding: .utf8), try String(contentsOfFile: rulesPath, encoding: .utf8))
        }
        let (sets, parseSets) = try timed { try IpsetParser.parse(setsText, file: ipsetPath) }
        let (ruleset, parseRules) = try timed { try RestoreParser.parse(rulesText, options: .init(file: rulesPath)) }
        let (result, compile) = timed { Compiler.compile(ruleset, sets: sets, interface: "bench0") }
        guard result.installable else {
            throw BenchError(description: "the ruleset does not compile: \(result.report.notes)")
        }
        let dp = try Dataplane.load()
        let (_, write) = try timed { try dp.write(result.tables, generation: 0) }
        print("read_s \(fixed(read, 3))")
        print("parse_sets_s \(fixed(parseSets, 3))")
        print("parse_rules_s \(fixed(parseRules, 3))")
        print("compile_s \(fixed(compile, 3))")
        print("xdp_write_s \(fixed(write, 3))")
    }
}
