import ArgumentParser
import Foundation
import Loader
import Runtime

/// `ebpf-iptables attach IFACE`: load the XDP program in front of the kernel's iptables.
struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Attach the XDP layer in front of the kernel's iptables on an interface.")

    enum Mode: String, ExpressibleByArgument { case native, generic }

    @Argument(help: "Interface to attach to.")
    var interface: String

    @Option(help: "native (driver) or generic (skb) XDP.")
    var mode: Mode = .native

    func run() throws {
        let status = CLI.run(.attach(interface: interface, mode: mode.rawValue))
        if status != 0 { throw ExitCode(status) }
    }
}

/// `ebpf-iptables detach IFACE`: the kernel's iptables alone decides again.
struct Detach: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Detach the XDP layer; the kernel's iptables keeps the whole ruleset.")

    @Argument(help: "Interface to detach from.")
    var interface: String

    func run() throws {
        let status = CLI.run(.detach(interface: interface))
        if status != 0 { throw ExitCode(status) }
    }
}

/// `ebpf-iptables status [-v]`.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what is attached, where each rule runs, and what XDP decided.")

    @Flag(name: .shortAndLong, help: "List every filter rule with its layer and XDP's counters.")
    var verbose = false

    func run() throws {
        let status = CLI.run(.status(verbose: verbose))
        if status != 0 { throw ExitCode(status) }
    }
}

struct Recent: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print or change a -m recent list, as /proc/net/xt_recent/NAME does.",
        discussion: """
            recent               every list XDP keeps, each after a '# NAME' line
            recent NAME          one list: src=ADDR ttl: T last_seen: J oldest_pkt: N J, J, ...
            recent NAME add ADDR | remove ADDR | clear
                                 as echo +ADDR, -ADDR or / > /proc/net/xt_recent/NAME, in XDP's copy
                                 of the list and in the kernel's
            """)

    @Argument(help: "The list (--name).")
    var name: String?

    @Argument(help: "add, remove or clear.")
    var action: String?

    @Argument(help: "The IPv4 address to add or remove.")
    var address: String?

    func run() throws {
        var edit: RecentEdit?
        switch (action, address) {
        case (nil, nil): edit = nil
        case ("add"?, let a?): edit = .add(a)
        case ("remove"?, let a?): edit = .remove(a)
        case ("clear"?, nil): edit = .clear
        default: throw ValidationError("expected: recent [NAME [add ADDR | remove ADDR | clear]]")
        }
        let status = CLI.run(.recent(name: name, edit: edit))
        if status != 0 { throw ExitCode(status) }
    }
}
