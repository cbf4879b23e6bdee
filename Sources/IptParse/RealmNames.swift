import Foundation

/// Route realm names, as libxt_realm reads them through libxtables' xtables_lmap_init:
/// /etc/iproute2/rt_realms, one `ID NAME` a line (the id strtoul base 0), `#` comments.
/// `--realm NAME` is the name's id (mask all ones); a number is `value[/mask]`. iptables
/// saves a value with the full mask by its name when it has one (`--realm 0` is saved as
/// `--realm cosmos` with iproute2's stock file), and `-L -n` shows it as a number.
enum RealmNames {
    static let path = "/etc/iproute2/rt_realms"

    /// The file's (id, name) pairs in its order; empty when it cannot be read.
    static let table: [(UInt32, String)] = {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return parse(text)
    }()

    static func parse(_ text: String) -> [(UInt32, String)] {
        var out: [(UInt32, String)] = []
        for line in text.split(separator: "\n") {
            let t = line.drop { $0 == " " || $0 == "\t" }
            if t.isEmpty || t.hasPrefix("#") { continue }
            guard let (id, rest) = CNumbers.strtouiPrefix(t, max: UInt64(UInt32.max)) else { continue }
            let name = rest.drop { $0 == " " || $0 == "\t" }.prefix { $0 != " " && $0 != "\t" && $0 != "#" }
            if name.isEmpty { continue }
            out.append((UInt32(id), String(name)))
        }
        return out
    }

    static func id(_ name: String) -> UInt32? { table.first { $0.1 == name }?.0 }
    static func name(_ id: UInt32) -> String? { table.first { $0.0 == id }?.1 }

    /// xtables_parse_val_mask's name branch (a word not starting with a digit), as the
    /// option is read.
    static func check(_ a: String, parser: CommandLineParser, word: Word) throws(Diagnostic) {
        guard let c = a.unicodeScalars.first, !("0"..."9").contains(c) else { return }
        if id(a) == nil {
            throw ExtensionForms.xt(parser, "realm: could not map name \(a) to an integer value for option \"--realm\".\n", word)
        }
    }

    /// xtables_print_val_mask with the realm map (`numeric` leaves the map out, as `-L -n`).
    static func text(_ v: UInt32, _ m: UInt32, numeric: Bool) -> String {
        if m != 0xffff_ffff { return String(format: "0x%x/0x%x", v, m) }
        if !numeric, let n = name(v) { return n }
        return String(format: "0x%x", v)
    }

    /// The saved form of `--realm` (a name, or a number as the parser read it).
    static func saved(_ a: String, parser: CommandLineParser, word: Word) -> String {
        if let v = id(a) { return text(v, 0xffff_ffff, numeric: false) }
        guard let (v, m) = try? parser.valueMask(Word(a, column: word.column)) else { return a }
        return text(v, m, numeric: false)
    }

    /// libxt_realm's print: `[!] realm VALUE`.
    static func list(_ e: ExtensionCall, numeric: Bool) -> String? {
        guard e.options.count == 1, let o = e.options.first, o.name == "realm" else { return nil }
        var value = o.args[0]
        if let v = id(value) { value = text(v, 0xffff_ffff, numeric: numeric) }
        return (o.negated ? " !" : "") + " realm " + value
    }
}
