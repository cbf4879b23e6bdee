import Glibc

/// Seconds on CLOCK_MONOTONIC.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Wall-clock seconds `body` took.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = monotonicSeconds()
    let value = try body()
    return (value, monotonicSeconds() - start)
}

/// Minimum, median and maximum of a few repetitions.
struct Spread {
    let min: Double
    let median: Double
    let max: Double

    init(_ samples: [Double]) {
        precondition(!samples.isEmpty, "no samples")
        let s = samples.sorted()
        min = s[0]
        max = s[s.count - 1]
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// "min/median/max" with `digits` decimals.
    func text(digits: Int) -> String {
        "\(fixed(min, digits))/\(fixed(median, digits))/\(fixed(max, digits))"
    }
}
