import CLibbpf
import Glibc

/// A descriptor of an XDP program for BPF_PROG_TEST_RUN: the one attached to an interface
/// (ours, xdp-filter's, or any other), or one of a `BPFObjectFile`.
public struct XDPProgramHandle: ~Copyable {
    let fd: OwnedFD

    init(fd: consuming OwnedFD) { self.fd = fd }

    /// The program attached to `interface` in the calling thread's network namespace.
    public static func attached(to interface: String) throws(LoaderError) -> XDPProgramHandle {
        guard let current = try Dataplane.attached(interface: interface) else {
            throw LoaderError("open xdp program of \(interface): nothing attached")
        }
        let fd = bpf_prog_get_fd_by_id(current.programID)
        guard fd >= 0 else { throw LoaderError.errno("open xdp program id \(current.programID)", fd) }
        return XDPProgramHandle(fd: OwnedFD(fd))
    }

    /// The XDP action for one run of `frame` as if it arrived on `interface`, in plain
    /// (non-live) mode: nothing reaches the stack.
    public func verdict(frame: [UInt8], ingress interface: String) throws(LoaderError) -> UInt32 {
        var ctx = try Self.context(frame: frame, interface: interface)
        var out = [UInt8](repeating: 0, count: frame.count + 256)
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.repeat = 1
        let r = frame.withUnsafeBytes { inp in
            out.withUnsafeMutableBytes { o in
                withUnsafeMutablePointer(to: &ctx) { c in
                    opts.data_in = inp.baseAddress
                    opts.data_size_in = UInt32(inp.count)
                    opts.data_out = o.baseAddress
                    opts.data_size_out = UInt32(o.count)
                    opts.ctx_in = UnsafeRawPointer(c)
                    opts.ctx_size_in = UInt32(MemoryLayout<xdp_md>.size)
                    return bpf_prog_test_run_opts(fd.raw, &opts)
                }
            }
        }
        guard r == 0 else { throw LoaderError.errno("test run on a \(frame.count)-byte frame", r) }
        return opts.retval
    }

    /// Runs the program on `count` copies of `frame` with BPF_F_TEST_XDP_LIVE_FRAMES, as if
    /// they arrived on `interface` (in the calling thread's network namespace): a frame the
    /// program passes becomes an skb that walks the real stack (netfilter included) on this
    /// thread, a dropped one is freed. Returns the calling thread's CPU time, which covers
    /// both the program and whatever the stack did with the frame.
    public func liveFrames(_ frame: [UInt8], ingress interface: String, count: UInt32,
                           batchSize: UInt32 = 64) throws(LoaderError) -> LiveFrameCost {
        var ctx = try Self.context(frame: frame, interface: interface)
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.repeat = Int32(clamping: max(count, 1))
        opts.flags = UInt32(BPF_F_TEST_XDP_LIVE_FRAMES)
        opts.batch_size = batchSize
        let start = Self.threadCPUNanoseconds()
        let r = frame.withUnsafeBytes { inp in
            withUnsafeMutablePointer(to: &ctx) { c in
                opts.data_in = inp.baseAddress
                opts.data_size_in = UInt32(inp.count)
                opts.ctx_in = UnsafeRawPointer(c)
                opts.ctx_size_in = UInt32(MemoryLayout<xdp_md>.size)
                return bpf_prog_test_run_opts(fd.raw, &opts)
            }
        }
        let spent = Self.threadCPUNanoseconds() - start
        guard r == 0 else { throw LoaderError.errno("live-frame test run on \(interface)", r) }
        return LiveFrameCost(packets: UInt64(max(count, 1)), threadCPUNanoseconds: spent)
    }

    /// The xdp_md a test run takes: the whole frame as data, arriving on queue 0 of `interface`.
    static func context(frame: [UInt8], interface: String) throws(LoaderError) -> xdp_md {
        var ctx = xdp_md()
        ctx.data = 0
        ctx.data_end = UInt32(frame.count)
        ctx.ingress_ifindex = UInt32(try Dataplane.interfaceIndex(interface, context: "test run on \(interface)"))
        ctx.rx_queue_index = 0
        return ctx
    }

    static func threadCPUNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// What one live-frame run cost the calling thread.
public struct LiveFrameCost: Equatable, Sendable {
    public var packets: UInt64
    public var threadCPUNanoseconds: UInt64
    public var nanosecondsPerPacket: Double { Double(threadCPUNanoseconds) / Double(max(packets, 1)) }
}
