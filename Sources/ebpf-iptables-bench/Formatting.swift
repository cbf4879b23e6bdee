import Foundation

/// 1000000 -> "1,000,000".
func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return out
}

func fixed(_ x: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", x)
}

/// `s` right-aligned in `width` columns.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}
