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
        var setNames: Set<String>? = nil
        for f in input.ipsetFiles {
            let (text, name) = try read(f)
            _ = (text, name); setNames = []  // TEMP until ipset parser lands
        }
        let (text, name) = try read(input.file)
        let known = setNames
        do {
            return try RestoreParser.parse(text, options: .init(
                family: input.family, file: name, setExists: known.map { names in { names.contains($0) } }))
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
