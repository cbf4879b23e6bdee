#!/usr/bin/env python3
"""Manual pages from the command declarations: reads what `ebpf-iptables
--experimental-dump-help` prints (swift-argument-parser's ToolInfo, version 0) and writes
ebpf-iptables(8) with every subcommand, and ebpf-iptables-SUBCOMMAND(8) for each, in roff
(man(7) macros). The words are the ones --help prints; only ENVIRONMENT, FILES and the
multi-call names are written here, since no declaration holds them.

usage: manpages.py DUMP_HELP_JSON OUTPUT_DIR [--date YYYY-MM-DD] [--version V]
"""
import argparse
import json
import os
import sys

SECTION = "8"
TOOL = "ebpf-iptables"

# The names the binary answers to (Sources/ebpf-iptables/Main.swift) and the page each one's
# manual is: the subcommand it stands for.
MULTI_CALL = [
    ("ebpf-iptables-restore", "restore", "ebpf-iptables restore"),
    ("ebpf-iptables-save", "save", "ebpf-iptables save"),
    ("ebpf-ip6tables", None, "ebpf-iptables for IPv6: ip6tables' command line"),
    ("ebpf-ip6tables-restore", "restore", "ebpf-iptables restore -6"),
    ("ebpf-ip6tables-save", "save", "ebpf-iptables save -6"),
    ("ebpf-ipset", "ipset", "ebpf-iptables ipset"),
]

ENVIRONMENT = [
    ("EBPF_IPTABLES_STATE", "The state directory (default /var/lib/ebpf-iptables): what is attached, "
     "the lock every change takes, the agent's control socket agent.sock."),
    ("EBPF_IPTABLES_CONFIG", "Where the ruleset is kept across reboots (default /etc/ebpf-iptables)."),
    ("EBPF_IPTABLES_BPFFS", "The pin directory on a bpffs mount (default /sys/fs/bpf/ebpf-iptables)."),
    ("EBPF_IPTABLES_NO_AGENT", "When set, the command runs by itself even when the agent answers on its socket."),
    ("EBPF_IPTABLES_TOOLS_PATH", "Where the kernel's iptables, ipset and nft are looked for "
     "(default /usr/sbin:/sbin:/usr/bin:/bin); the ebpf-iptables binary itself is always skipped."),
]

FILES = [
    ("/etc/default/ebpf-iptables", "Options of the service: EBPF_IPTABLES_SERVE_ARGS, the paths above."),
    ("/etc/ebpf-iptables/", "The saved ruleset (rules.v4, rules.v6, ipsets), restored when the agent starts."),
    ("/var/lib/ebpf-iptables/", "State: attachment, caches of the kernel layer, events.log, agent.sock."),
    ("/sys/fs/bpf/ebpf-iptables/", "The pinned XDP program and its maps."),
    ("/lib/systemd/system/ebpf-iptables.service", "The agent's unit."),
]


def esc(text):
    """Text for roff: backslashes, hyphens of option names, lines that would read as requests."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    out = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def paragraphs(text):
    """A discussion as roff paragraphs (blank lines separate them)."""
    parts = [p.strip() for p in (text or "").split("\n\n") if p.strip()]
    return "\n.PP\n".join(esc(p) for p in parts)


def name_text(n):
    return ("--" if n["kind"] == "long" else "-") + n["name"]


def argument_label(a):
    """How an argument is written: `-6, --ipv6`, `--listen <listen>`, `<file>`."""
    value = a.get("valueName") or "value"
    if a["kind"] == "positional":
        label = "\\fI<" + esc(value) + ">\\fR"
    else:
        names = ", ".join("\\fB" + esc(name_text(n)) + "\\fR" for n in a.get("names") or [])
        label = names + (" \\fI<" + esc(value) + ">\\fR" if a["kind"] == "option" else "")
    if a.get("isRepeating"):
        label += " ..."
    return label


def synopsis(path, cmd):
    """One usage line: the command's path, then its arguments as --help shows them."""
    words = ["\\fB" + esc(" ".join(path)) + "\\fR"]
    for a in visible(cmd):
        names = a.get("names") or []
        pref = a.get("preferredName") or (names[0] if names else None)
        value = a.get("valueName") or "value"
        if a["kind"] == "positional":
            w = "\\fI<" + esc(value) + ">\\fR"
        elif a["kind"] == "option":
            w = "\\fB" + esc(name_text(pref)) + "\\fR \\fI<" + esc(value) + ">\\fR"
        else:
            w = "\\fB" + esc(name_text(pref)) + "\\fR"
        if a.get("isRepeating"):
            w += " ..."
        words.append("[" + w + "]" if a.get("isOptional") else w)
    if cmd.get("subcommands"):
        words.append("\\fIsubcommand\\fR")
    return " ".join(words)


def visible(cmd):
    # help and version are the parser's own; every page says so once.
    return [a for a in cmd.get("arguments") or []
            if a.get("shouldDisplay", True)
            and not any(n["name"] in ("help", "version") and n["kind"] == "long" for n in a.get("names") or [])
            and not (a["kind"] == "flag" and [n["name"] for n in a.get("names") or []] == ["h"])]


def options(cmd):
    lines = []
    for a in visible(cmd):
        lines.append(".TP")
        lines.append(argument_label(a))
        body = esc(a.get("abstract") or "")
        if a.get("defaultValue") not in (None, ""):
            body += " (default: " + esc(a["defaultValue"]) + ")"
        if a.get("allValues"):
            body += " Values: " + esc(", ".join(a["allValues"])) + "."
        lines.append(body)
        if a.get("discussion"):
            lines.append(".IP")
            lines.append(paragraphs(a["discussion"]))
    lines.append(".TP")
    lines.append("\\fB\\-h\\fR, \\fB\\-\\-help\\fR")
    lines.append("Show help information.")
    return lines


def header(title, version, date):
    return ['.\\" Generated by packaging/manpages.py from `ebpf-iptables --experimental-dump-help`; do not edit.',
            '.TH "%s" "%s" "%s" "%s %s" "System Administration"' % (title.upper(), SECTION, date, TOOL, version)]


def shown(root):
    """The subcommands worth a page: `help` is the parser's own and says what --help says."""
    return [s for s in root.get("subcommands") or [] if s.get("shouldDisplay", True) and s["commandName"] != "help"]


def main_page(root, version, date):
    subs = shown(root)
    out = header(TOOL, version, date)
    out += [".SH NAME", "%s \\- %s" % (esc(TOOL), esc(root.get("abstract") or ""))]
    out += [".SH SYNOPSIS", ".B ebpf\\-iptables", "\\fIsubcommand\\fR [\\fIoptions\\fR]", ".br",
            ".B ebpf\\-iptables", "[\\fIiptables options\\fR] (as \\fBiptables\\fR(8): \\-A, \\-I, \\-D, \\-R, \\-S, \\-L, \\-P, ...)"]
    for name, _, what in MULTI_CALL:
        out += [".br", ".B " + esc(name), "[\\fIoptions\\fR]"]
    out += [".SH DESCRIPTION", esc(root.get("abstract") or "")]
    if root.get("discussion"):
        out += [".PP", paragraphs(root["discussion"])]
    out += [".SH OPTIONS"] + options(root) + [".TP", "\\fB\\-\\-version\\fR", "Show the version."]
    out += [".SH SUBCOMMANDS"]
    for s in subs:
        out += [".SS " + esc(s["commandName"]), synopsis([TOOL, s["commandName"]], s), ".PP", esc(s.get("abstract") or "")]
        if s.get("discussion"):
            out += [".PP", paragraphs(s["discussion"])]
        out += options(s)
        out += [".PP", "See \\fB%s\\-%s\\fR(8)." % (esc(TOOL), esc(s["commandName"]))]
    out += [".SH MULTI-CALL NAMES",
            "The binary answers to other names, symbolic links to it in /usr/sbin:"]
    for name, _, what in MULTI_CALL:
        out += [".TP", "\\fB" + esc(name) + "\\fR", esc(what) + "."]
    out += environment_and_files()
    out += see_also([s["commandName"] for s in subs])
    return "\n".join(out) + "\n"


def environment_and_files():
    out = [".SH ENVIRONMENT"]
    for k, v in ENVIRONMENT:
        out += [".TP", "\\fB" + esc(k) + "\\fR", esc(v)]
    out += [".SH FILES"]
    for k, v in FILES:
        out += [".TP", "\\fI" + esc(k) + "\\fR", esc(v)]
    return out


def see_also(subs, skip=None):
    refs = ["\\fB%s\\fR(8)" % esc(TOOL)] if skip else []
    refs += ["\\fB%s\\-%s\\fR(8)" % (esc(TOOL), esc(s)) for s in subs if s != skip]
    refs += ["\\fBiptables\\fR(8)", "\\fBiptables\\-restore\\fR(8)", "\\fBipset\\fR(8)", "\\fBsystemd.service\\fR(5)"]
    return [".SH SEE ALSO", ", ".join(refs)]


def sub_page(root, s, version, date):
    subs = [x["commandName"] for x in shown(root)]
    title = "%s-%s" % (TOOL, s["commandName"])
    out = header(title, version, date)
    out += [".SH NAME", "%s \\- %s" % (esc(title), esc(s.get("abstract") or ""))]
    out += [".SH SYNOPSIS", synopsis([TOOL, s["commandName"]], s)]
    also = [name for name, sub, _ in MULTI_CALL if sub == s["commandName"]]
    for name in also:
        out += [".br", ".B " + esc(name), "[\\fIoptions\\fR]"]
    out += [".SH DESCRIPTION", esc(s.get("abstract") or "")]
    if s.get("discussion"):
        out += [".PP", paragraphs(s["discussion"])]
    if also:
        out += [".PP", "Also run as " + ", ".join("\\fB%s\\fR" % esc(n) for n in also) + "."]
    out += [".SH OPTIONS"] + options(s)
    out += environment_and_files()
    out += see_also(subs, skip=s["commandName"])
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dump")
    p.add_argument("outdir")
    p.add_argument("--date", default="")
    p.add_argument("--version", default="")
    args = p.parse_args()
    with open(args.dump) as f:
        info = json.load(f)
    if info.get("serializationVersion") != 0:
        sys.exit("manpages.py: dump-help serialization version %r, expected 0" % info.get("serializationVersion"))
    root = info["command"]
    os.makedirs(args.outdir, exist_ok=True)
    written = {TOOL: main_page(root, args.version, args.date)}
    for s in shown(root):
        written["%s-%s" % (TOOL, s["commandName"])] = sub_page(root, s, args.version, args.date)
    for name, text in written.items():
        with open(os.path.join(args.outdir, name + "." + SECTION), "w") as f:
            f.write(text)
    # The multi-call names: links to the page of what each one runs (made by the caller, who
    # knows how they are compressed); printed as "NAME TARGET" lines.
    for name, sub, _ in MULTI_CALL:
        target = "%s-%s" % (TOOL, sub) if sub else TOOL
        if name != target:
            print(name, target)


if __name__ == "__main__":
    main()
