import ArgumentParser
import Foundation
import IptParse

/// Reading rule and set files for the subcommands, with diagnostics on stderr
/// and iptables' exit status for a parameter problem.
enum RulesetLoading {
    static func read(_ path: String?) throws -> (text: String, name: String) {
        guard let path, path != "-" else {
            return (String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self), "<stdin>")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            Diagnostics.fail("cannot read '\(path)': no such file or not readable")
            throw ExitCode(2)
        }
        return (String(decoding: data, as: UTF8.self), path)
    }

    static func parse(_ input: RulesetInput) throws -> Ruleset {
        try parseWithSets(input).0
    }

    /// The ruleset and the sets of every --ipset file (one script, in file order).
    static func parseWithSets(_ input: RulesetInput, base: Ruleset? = nil) throws -> (Ruleset, IpsetScript?) {
        var setNames: Set<String>? = nil
        var script: IpsetScript? = nil
        for f in input.ipsetFiles {
            let (text, name) = try read(f)
            do {
                let s = try IpsetParser.parse(text, file: name)
                setNames = (setNames ?? []).union(s.sets.map(\.create.name))
                script = IpsetScript(sets: (script?.sets ?? []) + s.sets)
            } catch {
                Diagnostics.fail(String(describing: error))
                throw ExitCode(2)
            }
        }
        let (text, name) = try read(input.file)
        var check: (@Sendable (String) -> Bool)? = nil
        if let names = setNames { check = { names.contains($0) } }
        do {
            return (try RestoreParser.parse(text, options: .init(family: input.family, file: name, noflush: base != nil,
                                                                 base: base, setExists: check)), script)
        } catch {
            Diagnostics.fail(String(describing: error))
            throw ExitCode(2)
        }
    }
}

enum Diagnostics {
    static func fail(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
