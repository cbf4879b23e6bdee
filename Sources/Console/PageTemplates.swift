/// The console's pages as mustache templates (swift-mustache, `{{x}}` HTML-escaped), kept
/// in the binary so an installed console needs no template directory. No script, no asset
/// from elsewhere: the one stylesheet is served by the console itself (`/style.css`).
enum PageTemplates {
    static let header = """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><title>{{title}} · ebpf-iptables console</title>
    <link rel="stylesheet" href="/style.css"></head>
    <body>
    <header><span class="brand">ebpf-iptables console</span>
    {{#user}}<nav><a href="/nodes">Nodes</a> <a href="/sets">Sets</a> <a href="/import">Import</a></nav>
    <form class="logout" method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><span id="whoami">{{user}}</span> <button type="submit">Log out</button></form>{{/user}}
    </header>
    <main>
    {{#error}}<p class="error" id="error">{{error}}</p>{{/error}}
    {{#notice}}<p class="notice" id="notice">{{notice}}</p>{{/notice}}

    """

    static let footer = """
    </main></body></html>

    """

    static let login = """
    {{> header}}
    <h1>Log in</h1>
    <form method="post" action="/login" class="login">
    <input type="hidden" name="csrf" value="{{loginCSRF}}">
    <label>User <input name="user" id="user" autocomplete="username" required autofocus></label>
    <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
    <button type="submit" id="login">Log in</button>
    </form>
    {{> footer}}
    """

    static let nodes = """
    {{> header}}
    <h1>Nodes</h1>
    <p>Change log at seq {{maxSeq}}.</p>
    <table id="nodes"><thead><tr><th>Node</th><th>Group</th><th>Health</th><th>Last seen</th><th>Lag (changes)</th><th>XDP share</th><th>Status</th></tr></thead>
    <tbody>
    {{#nodes}}<tr><td><a href="/nodes/{{link}}">{{name}}</a></td><td>{{group}}</td><td class="health-{{health}}">{{health}}</td><td>{{seen}}</td><td>{{lag}}</td><td>{{share}}</td><td>{{status}}</td></tr>
    {{/nodes}}
    {{^nodes}}<tr><td colspan="7">No node has reported to the database yet.</td></tr>{{/nodes}}
    </tbody></table>
    {{> footer}}
    """

    static let node = """
    {{> header}}
    <h1>Node {{name}}</h1>
    <p>API {{api}} · group {{group}} · health {{health}} · lag {{lag}}</p>
    {{#xdp}}<p id="xdp">XDP on {{interface}} (program {{programID}}): dropped {{dropped}}, passed to the kernel {{passedToKernel}}, untouched {{untouched}}.</p>{{/xdp}}
    {{#rulesError}}<p class="error">Rules: {{rulesError}}</p>{{/rulesError}}
    {{#ruleNotice}}<p class="notice" id="notice">{{ruleNotice}}</p>{{/ruleNotice}}
    {{#ruleError}}<p class="error" id="error">{{ruleError}}</p>{{/ruleError}}
    <form id="rule" method="post" action="/nodes/{{link}}/rules"><input type="hidden" name="csrf" value="{{csrf}}">
    <label>Table <input name="table" value="filter" size="8"></label> <label>Chain <input name="chain" value="INPUT" size="12"></label>
    <label>Position <input name="position" size="4" placeholder="end"></label> <label>Rule <input name="rule" size="60" placeholder="-s 192.0.2.1 -p udp --dport 5060 -j DROP"></label>
    <button type="submit">Add rule</button></form>
    {{#tables}}
    <h2>Table {{name}}</h2>
    {{#chains}}
    <h3>Chain {{name}}{{#policy}} (policy {{policy}}: kernel {{policyKernel}} packets, XDP {{policyXDP}}){{/policy}}</h3>
    <table class="rules"><thead><tr><th>#</th><th>Rule</th><th>Kernel packets</th><th>Kernel bytes</th><th>XDP packets</th><th>XDP bytes</th><th></th></tr></thead><tbody>
    {{#rules}}<tr><td>{{number}}</td><td><code>{{rule}}</code></td><td class="n">{{kp}}</td><td class="n">{{kb}}</td><td class="n">{{xp}}</td><td class="n">{{xb}}</td><td><form method="post" action="/nodes/{{link}}/rules/delete"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="table" value="{{table}}"><input type="hidden" name="chain" value="{{chain}}"><input type="hidden" name="number" value="{{number}}"><button type="submit">Delete</button></form></td></tr>
    {{/rules}}
    {{^rules}}<tr><td colspan="7">No rules.</td></tr>{{/rules}}
    </tbody></table>
    {{/chains}}
    {{/tables}}
    <h2>Migration report</h2>
    {{#migrationError}}<p class="error">Migration report: {{migrationError}}</p>{{/migrationError}}
    {{#migration}}
    <p id="migration">Installable: {{installable}}. XDP share: {{shareInXDP}} of {{shareTotal}} dropping rules decided by XDP; INPUT's DROP policy: {{dropPolicy}}.</p>
    <p>Rules by status: {{#totals}}{{key}} {{value}}{{^last}}, {{/last}}{{/totals}}</p>
    {{#hasProblems}}<h3>Problems</h3><ul>{{#problems}}<li>{{severity}} {{kind}}: {{detail}}</li>{{/problems}}</ul>{{/hasProblems}}
    <table class="rules"><thead><tr><th>Table</th><th>Chain</th><th>#</th><th>Rule</th><th>Layer</th><th>Status</th><th>Detail</th></tr></thead><tbody>
    {{#rules}}<tr><td>{{table}}</td><td>{{chain}}</td><td>{{index}}</td><td><code>{{rule}}</code></td><td>{{layer}}</td><td>{{status}}</td><td>{{detail}}</td></tr>
    {{/rules}}
    </tbody></table>
    {{#notes}}<p class="note">{{.}}</p>{{/notes}}
    {{/migration}}
    {{> footer}}
    """

    static let sets = """
    {{> header}}
    <h1>Sets</h1>
    <table id="sets"><thead><tr><th>Set</th><th>Type</th><th>Options</th><th>Members</th></tr></thead><tbody>
    {{#sets}}<tr><td><a href="/sets/{{link}}">{{name}}</a></td><td>{{type}}</td><td><code>{{options}}</code></td><td class="n">{{members}}</td></tr>
    {{/sets}}
    {{^sets}}<tr><td colspan="4">No sets in the database.</td></tr>{{/sets}}
    </tbody></table>
    {{> footer}}
    """

    static let set = """
    {{> header}}
    <h1>Set {{name}}</h1>
    <p><code>create {{name}} {{type}} {{options}}</code></p>
    <h2>Add a member</h2>
    <form method="post" action="/sets/{{link}}/members" class="inline" id="add">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <label>Element <input name="element" id="element" required placeholder="198.18.0.1"></label>
    <label>Comment <input name="comment" id="comment" maxlength="255"></label>
    {{#hasTimeout}}<label>Timeout <input name="timeout" id="timeout" inputmode="numeric" size="8"></label>{{/hasTimeout}}
    <button type="submit" id="add-button">Add</button>
    </form>
    <h2>Members</h2>
    <form method="get" action="/sets/{{link}}" class="inline"><label>Search <input name="q" id="q" value="{{q}}"></label> <button type="submit">Search</button></form>
    <p>{{shown}} of {{total}} {{#searching}}matching {{/searching}}member(s) shown.</p>
    <table id="members"><thead><tr><th>Element</th><th>Comment</th><th>Timeout</th><th>Added (UTC)</th><th></th></tr></thead><tbody>
    {{#members}}<tr><td><code>{{element}}</code></td><td>{{comment}}</td><td>{{timeout}}</td><td>{{addedAt}}</td>
    <td><form method="post" action="/sets/{{link}}/members/delete"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="element" value="{{element}}"><button type="submit">Delete</button></form></td></tr>
    {{/members}}
    {{^members}}<tr><td colspan="5">No members{{#searching}} match{{/searching}}.</td></tr>{{/members}}
    </tbody></table>
    {{> footer}}
    """

    static let importPage = """
    {{> header}}
    <h1>Import an ipset save file</h1>
    <p>Choose or paste what <code>ipset save</code> printed. Every line is checked first, as <code>ipset restore -exist</code> reads it against the database's sets; on the first error nothing is written. Sets the file creates are created; members already in the database are left as they are.</p>
    <form method="post" action="/import" id="import" enctype="multipart/form-data">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <label>File <input type="file" name="file" id="file"></label> or paste it:<br>
    <textarea name="text" id="text" rows="16" cols="100" spellcheck="false">{{text}}</textarea><br>
    <button type="submit" id="import-button">Check and import</button>
    </form>
    {{#plan}}<p id="imported">Imported: {{creates}} set(s) created, {{adds}} member(s) added, {{already}} already there.</p>{{/plan}}
    {{> footer}}
    """

    static let message = """
    {{> header}}
    <h1>{{title}}</h1>
    <p>{{text}}</p>
    <p><a href="{{back}}">{{backLabel}}</a></p>
    {{> footer}}
    """

    static let stylesheet = """
    body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
    header { display: flex; align-items: center; gap: 2em; background: #1f3b57; color: #fff; padding: .6em 1.2em; }
    header a { color: #fff; margin-right: 1em; text-decoration: none; font-weight: 600; }
    header .brand { font-weight: 700; }
    header .logout { margin-left: auto; }
    main { padding: 1em 1.5em; }
    table { border-collapse: collapse; background: #fff; margin-bottom: 1.2em; }
    th, td { border: 1px solid #d5dae0; padding: .3em .6em; text-align: left; vertical-align: top; }
    th { background: #e8edf2; }
    td.n { text-align: right; font-variant-numeric: tabular-nums; }
    code { font: 12px/1.3 ui-monospace, monospace; }
    .error { background: #fde8e8; border: 1px solid #e0a0a0; padding: .5em; }
    .notice { background: #e6f5e9; border: 1px solid #9fcfa8; padding: .5em; }
    .health-up { color: #17752a; font-weight: 600; }
    .health-late { color: #9a6400; font-weight: 600; }
    .health-down, .health-never { color: #b3261e; font-weight: 600; }
    form.inline label, form.login label { margin-right: 1em; }
    form.login label { display: block; margin: .5em 0; }
    td form { margin: 0; }
    textarea { font: 12px ui-monospace, monospace; }

    """
}
