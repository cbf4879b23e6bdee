import IptParse

extension Table {
    /// `start` and the chains it jumps or goes to, transitively, in discovery order.
    func reach(from start: String) -> [String] {
        var order: [String] = []
        var seen: Set<String> = []
        var queue = [start]
        while !queue.isEmpty {
            let name = queue.removeFirst()
            guard seen.insert(name).inserted, let chain = self.chain(name) else { continue }
            order.append(name)
            for rule in chain.rules {
                switch rule.target {
                case .jump(let t)?, .goto(let t)?: queue.append(t)
                default: break
                }
            }
        }
        return order
    }
}
