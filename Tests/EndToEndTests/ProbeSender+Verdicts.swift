import Foundation

extension ProbeSender {
    /// Sends `frame` to the reference receiver (the kernel alone) and to the one with XDP in
    /// front, and waits (at most 3 s) until the reference counted it and the other one either
    /// counted it or XDP dropped it. Whether each delivered it past INPUT.
    func deliveredByBoth(_ frame: [UInt8], ref: Receiver, two: Receiver) throws -> (ref: Bool, two: Bool) {
        let before = (ref.snapshot(), two.snapshot(), try two.xdp().stats().dropped)
        try send(frame)
        let deadline = Date().addingTimeInterval(3)
        var r = ref.snapshot(), t = two.snapshot()
        while Date() < deadline {
            r = ref.snapshot()
            t = two.snapshot()
            let dropped = try two.xdp().stats().dropped
            if r.seen > before.0.seen && (t.seen > before.1.seen || dropped > before.2) { break }
            usleep(5000)
        }
        return (r.delivered > before.0.delivered, t.delivered > before.1.delivered)
    }
}
