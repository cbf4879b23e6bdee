import CLibbpf
import Compiler

extension ProgramShape {
    /// Each shape bit and the EIPT_GEN_* bit the program knows it by (bpf/ebpf_iptables.h).
    static let generationBitPairs: [(ProgramShape, UInt32)] = [
        (.protoPortExact, EIPT_GEN_PP_PORT), (.protoPortAny, EIPT_GEN_PP_ANY),
        (.sourceHost, EIPT_GEN_SRC_HOST), (.sourcePrefix, EIPT_GEN_SRC_TRIE),
        (.sourceProtoPortHostExact, EIPT_GEN_SPP_HOST_PORT), (.sourceProtoPortHostAny, EIPT_GEN_SPP_HOST_ANY),
        (.sourceProtoPortPrefixExact, EIPT_GEN_SPP_TRIE_PORT), (.sourceProtoPortPrefixAny, EIPT_GEN_SPP_TRIE_ANY),
        (.fallback, EIPT_GEN_FALLBACK), (.conntrack, EIPT_GEN_NEEDS_CT), (.extensionTests, EIPT_GEN_EXT),
        (.natCheck, EIPT_GEN_NAT_CHECK), (.reject, EIPT_GEN_REJECT), (.xdpOnly, EIPT_GEN_XDP_ONLY),
    ]

    /// The EIPT_GEN_* bits of this shape: what gen_config.flags holds for a generation of this
    /// shape, and (every bit the program does not know set too, for `full`) `eipt_shape`.
    public var generationBits: UInt32 {
        var b: UInt32 = 0
        for (s, bit) in ProgramShape.generationBitPairs where contains(s) { b |= bit }
        return b
    }

    /// The shape of EIPT_GEN_* bits (a gen_config's flags, or a program's `eipt_shape`).
    public init(generationBits b: UInt32) {
        var s: ProgramShape = []
        for (shape, bit) in ProgramShape.generationBitPairs where b & bit != 0 { s.insert(shape) }
        self = s
    }

    /// Whether the lean entry program serves this shape (EIPT_SHAPE_LEAN: keyed tables and
    /// --xdp-only counting only).
    public var isLean: Bool { self != .full && ProgramShape.leanShapes.isSuperset(of: self) }

    /// EIPT_SHAPE_LEAN's bits (a macro of macros, which Swift does not import).
    static let leanShapes: ProgramShape = [.protoPortExact, .protoPortAny, .sourceHost, .sourcePrefix,
                                           .sourceProtoPortHostExact, .sourceProtoPortHostAny,
                                           .sourceProtoPortPrefixExact, .sourceProtoPortPrefixAny, .xdpOnly]

    /// The value of the program's `eipt_shape`: `full` is EIPT_SHAPE_ALL (bits the program
    /// may know later included), any other shape exactly its bits.
    var programBits: UInt32 { self == .full ? EIPT_SHAPE_ALL : generationBits }
}

extension LiveKey {
    /// The table bit of the program's shape this entry lives in.
    public var shape: ProgramShape { ProgramShape(generationBits: TableEncoding.flag(self)) }
}
