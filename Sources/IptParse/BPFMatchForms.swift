/// The bpf match's `--bytecode` as libxt_bpf reads (bpf_parse_string), saves and lists it:
/// `LEN,code jt jf k,code jt jf k,...`, at most 64 instructions, each four numbers. `-L`
/// prints `match bpf ` and the instructions with the string's terminating NUL byte
/// (bpf_print_code's tail character is '\0'), glued to the destination column.
enum BPFMatchForms {
    static let maxInstructions = 64

    /// The program's instructions; the refusal in libxt_bpf's words otherwise.
    static func instructions(_ text: String) -> Result<[[UInt64]], Refusal> {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        // "%hu%c": a number, then a comma at once.
        guard parts.count > 1, let len = scanUnsigned(parts[0]), len.rest.isEmpty else { return .failure(.init("bpf: error parsing program length")) }
        let n = UInt16(truncatingIfNeeded: len.value)
        if n == 0 { return .failure(.init("bpf: illegal zero length program")) }
        if n > maxInstructions { return .failure(.init("bpf: number of instructions exceeds maximum")) }
        var out: [[UInt64]] = []
        for (i, p) in parts.dropFirst().enumerated() where i < Int(n) {
            // "%hu %hhu %hhu %u": four numbers, blanks between.
            var rest = Substring(p)
            var nums: [UInt64] = []
            while nums.count < 4, let v = scanUnsigned(rest) {
                nums.append(v.value)
                rest = v.rest
            }
            guard nums.count == 4 else { return .failure(.init("bpf: error at instr \(i)")) }
            out.append([UInt64(UInt16(truncatingIfNeeded: nums[0])), UInt64(UInt8(truncatingIfNeeded: nums[1])),
                        UInt64(UInt8(truncatingIfNeeded: nums[2])), UInt64(UInt32(truncatingIfNeeded: nums[3]))])
        }
        if out.count != Int(n) { return .failure(.init("bpf: parsed program length is less than claimed")) }
        return .success(out)
    }

    struct Refusal: Error { var text: String; init(_ t: String) { text = t } }

    /// scanf's unsigned conversion: blanks, an optional sign, decimal digits.
    static func scanUnsigned(_ s: Substring) -> (value: UInt64, rest: Substring)? {
        var t = s.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var negative = false
        if let f = t.first, f == "+" || f == "-" { negative = f == "-"; t = t.dropFirst() }
        let digits = t.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        let v = UInt64(digits) ?? UInt64.max
        return (negative ? 0 &- v : v, t.dropFirst(digits.count))
    }

    static func check(_ opt: ExtensionSpec.Option, args: [Word], parser: CommandLineParser) throws(Diagnostic) {
        guard opt.name == "bytecode", let w = args.first else { return }
        if case .failure(let r) = instructions(w.text) { throw ExtensionForms.xt(parser, r.text, w) }
    }

    static func final(_ e: LoadedExtension, parser: CommandLineParser) throws(Diagnostic) {
        if !e.given.contains(where: { $0.option.name == "bytecode" || $0.option.name == "object-pinned" }) {
            throw ExtensionForms.xt(parser, "bpf: one of --bytecode or --pinned is required", e.word)
        }
    }

    static func code(_ ins: [[UInt64]]) -> String { ins.map { $0.map(String.init).joined(separator: " ") }.joined(separator: ",") }

    /// bpf_save's `--bytecode "LEN,..."` (the quotes are the printer's).
    static func canonical(_ opts: [ExtensionOption]) -> [ExtensionOption] {
        opts.map { o in
            guard o.name == "bytecode", case .success(let ins) = instructions(o.args[0]) else { return o }
            return ExtensionOption("bytecode", args: ["\(ins.count)," + code(ins)])
        }
    }

    static func list(_ e: ExtensionCall) -> String? {
        guard let o = e.options.first(where: { $0.name == "bytecode" }), case .success(let ins) = instructions(o.args[0]) else { return nil }
        return "match bpf " + code(ins) + "\0"
    }
}
