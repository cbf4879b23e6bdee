import CLibbpf

/// The libbpf this binary was linked with; `status` reports it, and it is the
/// first thing to check when a map or program feature is missing.
public enum Libbpf {
    public static var version: (major: Int, minor: Int) {
        (Int(libbpf_major_version()), Int(libbpf_minor_version()))
    }
}
