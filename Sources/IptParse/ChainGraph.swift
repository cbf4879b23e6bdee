/// Jumps between chains. The kernel refuses a table in which a built-in chain
/// can reach a loop of jumps ("Too many links"); loops in chains nothing
/// reaches are accepted, so they are accepted here too.
extension Table {
    /// A loop reachable from a built-in chain: the chains on it and the rule that
    /// completed it (the latest written of the jumps leading there and around it).
    public struct Loop: Equatable, Sendable {
        public var chains: [String]
        public var closingRule: Rule
    }

    public func reachableLoop() -> Loop? {
        var edges: [String: [(String, Rule)]] = [:]
        for c in chains {
            for r in c.rules {
                switch r.target {
                case .jump(let t), .goto(let t): edges[c.name, default: []].append((t, r))
                default: break
                }
            }
        }
        var done = Set<String>()
        var onPath: [String] = []
        var pathRules: [Rule] = []

        func visit(_ chain: String) -> Loop? {
            if let i = onPath.firstIndex(of: chain) {
                let closing = pathRules.max { ($0.location?.line ?? 0) < ($1.location?.line ?? 0) }
                return closing.map { Loop(chains: Array(onPath[i...]) + [chain], closingRule: $0) }
            }
            if done.contains(chain) { return nil }
            onPath.append(chain)
            for (t, r) in edges[chain] ?? [] {
                pathRules.append(r)
                if let l = visit(t) { return l }
                pathRules.removeLast()
            }
            onPath.removeLast()
            done.insert(chain)
            return nil
        }
        for c in chains where c.isBuiltin {
            if let l = visit(c.name) { return l }
        }
        return nil
    }
}
