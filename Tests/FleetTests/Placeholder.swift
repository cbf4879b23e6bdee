import XCTest
final class FleetPlaceholderTests: XCTestCase {}
