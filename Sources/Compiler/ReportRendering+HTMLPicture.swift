import IptParse

/// The pieces of the HTML report: escaping, anchors, the style sheet and the inline SVG
/// bars (no script, no web font, nothing fetched).
enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// The id of a rule's row in the full table: letters, digits, '-' and '_' only, since chain
    /// names may hold anything iptables allows.
    static func anchor(_ r: RuleRef) -> String {
        let chain = r.chain.unicodeScalars.map { s -> String in
            (s.properties.isAlphabetic && s.isASCII) || ("0"..."9").contains(s) || s == "-" || s == "_" ? String(s) : "_\(s.value)_"
        }.joined()
        return "r-\(r.table)-\(chain)-\(r.index)"
    }

    /// Width of the bar area of the chain picture, in pixels.
    static let barWidth = 720
    /// A box per rule at most this wide (short chains), at least 2 px (long ones).
    static let boxMax = 26

    /// One chain as a row of boxes, one per rule in order, coloured by layer, each linking to
    /// its row and naming the rule in a tooltip. Every chain uses the same box width, so
    /// longer chains draw longer bars.
    static func chainBar(_ c: ChainSummary, longest: Int, policy: (verdict: String, layer: RuleStatus.Layer?)? = nil) -> String {
        let box = max(2, min(boxMax, barWidth / max(longest, 1)))
        let gap = box >= 6 ? 2 : box >= 4 ? 1 : 0
        let boxes = c.rules.count + (policy == nil ? 0 : 1)
        let width = max(box * boxes, 1)
        let label = "\(c.name): \(c.count(.xdp)) in XDP, \(c.count(.kernel)) in the kernel, \(c.count(nil)) never decide"
        var s = "<svg class=\"bar\" width=\"\(width)\" height=\"22\" viewBox=\"0 0 \(width) 22\" role=\"img\" aria-label=\"\(escape(label))\">"
        for (i, r) in c.rules.enumerated() {
            let tip = "#\(r.ref.index)\(r.ref.line.map { " (line \($0))" } ?? ""): \(r.status.placement): \(r.status.detail)\n\(r.text)"
            s += "<a href=\"#\(anchor(r.ref))\"><rect x=\"\(i * box)\" y=\"1\" width=\"\(box - gap)\" height=\"20\" rx=\"\(box >= 8 ? 2 : 0)\" class=\"rule \(r.status.layerName)\"><title>\(escape(tip))</title></rect></a>"
        }
        if let policy {
            let x = c.rules.count * box
            let layer = policy.layer?.rawValue ?? "none"
            let tip = "policy \(policy.verdict): " + (policy.layer.map { $0 == .xdp ? "decided in XDP" : "decided in the kernel" } ?? "no packet reaches it")
            s += "<g class=\"policy\"><rect x=\"\(x)\" y=\"1\" width=\"\(box - gap)\" height=\"20\" rx=\"\(box >= 8 ? 2 : 0)\" class=\"\(layer)\"><title>\(escape(tip))</title></rect>"
            if box >= 10 { s += "<text x=\"\(x + (box - gap) / 2)\" y=\"15\" text-anchor=\"middle\">P</text>" }
            s += "</g>"
        }
        return s + "</svg>"
    }

    /// The share as a bar: the part in XDP green, the rest (the kernel's) orange.
    static func shareBar(_ share: XDPShare, label: String) -> String {
        let w = 320
        let x = Int((share.fraction * Double(w)).rounded())
        let text = "\(share.inXDP) of \(share.total) \(label) in XDP"
        var s = "<svg class=\"sharebar\" width=\"\(w)\" height=\"16\" viewBox=\"0 0 \(w) 16\" role=\"img\" aria-label=\"\(escape(text))\">"
        s += "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"16\" rx=\"3\" class=\"\(share.total == 0 ? "none" : "kernel")\"/>"
        if x > 0 { s += "<rect x=\"0\" y=\"0\" width=\"\(x)\" height=\"16\" rx=\"3\" class=\"xdp\"><title>\(escape(text))</title></rect>" }
        return s + "</svg>"
    }

    static let style = """
    :root{--xdp:#2e7d32;--kernel:#e8710a;--none:#b0b4b8;--ink:#1d2329;--mute:#5f6b76;--line:#dde2e6}
    *{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);margin:0 auto;max-width:1240px;padding:24px 32px}
    h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}h2 small{font-weight:normal;color:var(--mute);font-size:14px}
    h3{font-size:15px;margin:16px 0 6px;color:var(--mute);font-weight:600}.sub{color:var(--mute);margin:0}
    .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:13px}.badge.ok{background:#e3f1e4;color:var(--xdp)}.badge.bad{background:#fde2e0;color:#b3261e}
    ul.problems{list-style:none;padding:0;margin:0}ul.problems li{padding:6px 10px;margin:4px 0;border-left:4px solid;border-radius:3px}
    li.error{border-color:#b3261e;background:#fdecea}li.warning{border-color:#c98a00;background:#fff6dc}li b{text-transform:uppercase;font-size:12px;margin-right:6px}
    .hero{display:flex;flex-wrap:wrap;gap:16px 40px;align-items:flex-start;margin-top:20px;padding:18px 22px;background:#f5f8f6;border:1px solid var(--line);border-radius:8px}
    .share{display:flex;gap:14px;align-items:center}.big{font-size:46px;font-weight:700;color:var(--xdp);min-width:118px;text-align:right;line-height:1}.big.low{color:var(--kernel)}.what{width:340px;font-size:14px}.sharebar{display:block;margin-top:6px}
    .good{color:var(--xdp);font-weight:600}.bad{color:#b3261e;font-weight:600}
    .xdponly{flex-basis:100%;padding-left:10px;border-left:4px solid}.xdponly.yes{border-color:var(--xdp)}.xdponly.no{border-color:var(--kernel)}.xdponly ul{margin:4px 0;font-size:13px;color:var(--mute)}
    .note{color:var(--mute);font-size:13px;margin-top:4px}
    .legend{color:var(--mute);font-size:14px}.key{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin:0 3px 0 10px}
    .key.xdp,rect.xdp{background:var(--xdp);fill:var(--xdp)}.key.kernel,rect.kernel{background:var(--kernel);fill:var(--kernel)}.key.none,rect.none{background:var(--none);fill:var(--none)}
    rect:hover{opacity:.6}.bars{display:grid;grid-template-columns:260px 110px 1fr;gap:4px 12px;align-items:center}
    g.policy rect{stroke:var(--ink);stroke-width:1.5;stroke-dasharray:3 2}g.policy text{font:bold 11px sans-serif;fill:#fff;pointer-events:none}
    .chain{font:13px ui-monospace,"DejaVu Sans Mono",monospace;text-align:right;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.bar{display:block}
    .counts{font-size:13px;white-space:nowrap}.n{display:inline-block;min-width:26px;text-align:center;border-radius:3px;color:#fff;padding:0 3px;font-weight:600}.n.xdp{background:var(--xdp)}.n.kernel{background:var(--kernel)}.n.none{background:var(--none)}
    details{margin:6px 0;border:1px solid var(--line);border-radius:6px;padding:4px 10px}summary{cursor:pointer;padding:4px 0}.count{color:var(--mute)}
    code{font:12.5px ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-word}code.id{color:var(--mute)}.detail{color:var(--mute);font-size:13px}
    table.rules{border-collapse:collapse;width:100%;margin:4px 0}table.rules td,table.rules th{border-top:1px solid var(--line);padding:4px 8px;vertical-align:top;text-align:left}
    td.where{white-space:nowrap;font-size:13px}table.full th{position:sticky;top:0;background:#fff}
    .layer{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;font-weight:600}.layer.xdp{background:var(--xdp)}.layer.kernel{background:var(--kernel)}.layer.none{background:var(--none)}
    tr:target{outline:2px solid #1a73e8}a{color:#1a5fb4}
    """
}
