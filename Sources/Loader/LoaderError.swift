import Glibc

/// Every failure of the Loader. The message is a lowercase context phrase ending with
/// the cause, e.g. `attach xdp to veth0: device or resource busy (EBUSY)`; a failed
/// program load carries the verifier's log after the first line.
public struct LoaderError: Error, CustomStringConvertible, Equatable {
    public var message: String
    /// The errno behind the failure, when there is one.
    public var code: Int32?

    public init(_ message: String, code: Int32? = nil) {
        self.message = message
        self.code = code
    }

    public var description: String { message }

    /// `context: <strerror> (<ENAME>)` for a positive or negative errno.
    static func errno(_ context: String, _ err: Int32) -> LoaderError {
        let e = abs(err)
        return LoaderError("\(context): \(LoaderError.describe(errno: e))", code: e)
    }

    /// The thread's current errno.
    static func lastErrno(_ context: String) -> LoaderError {
        errno(context, Glibc.errno)
    }

    static func describe(errno e: Int32) -> String {
        var text: String
        if e == 524 {
            text = "operation not supported by the kernel"
        } else if let s = strerror(e) {
            text = String(cString: s)
        } else {
            text = "error \(e)"
        }
        if let first = text.first {
            text = first.lowercased() + text.dropFirst()
        }
        if let name = errnoNames[e] { return "\(text) (\(name))" }
        return "\(text) (errno \(e))"
    }

    private static let errnoNames: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        ENXIO: "ENXIO", E2BIG: "E2BIG", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM",
        EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV",
        ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENOSPC: "ENOSPC",
        ERANGE: "ERANGE", ENOSYS: "ENOSYS", ENOTSUP: "EOPNOTSUPP", EPROTO: "EPROTO",
        ELOOP: "ELOOP", ENAMETOOLONG: "ENAMETOOLONG", ENOTEMPTY: "ENOTEMPTY", 524: "ENOTSUPP",
    ]
}
