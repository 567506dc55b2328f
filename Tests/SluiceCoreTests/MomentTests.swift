import Testing
import SluiceCore

/// A Moment stands for the ContinuousClock instant it was made from, in both directions, and orders
/// and subtracts as the clock does.
@Suite struct MomentTests {
    @Test func roundTripsAndOrders() {
        let instant = ContinuousClock.now
        let moment = Moment(instant)
        #expect(moment.instant == instant)
        #expect(Moment(moment.instant) == moment)

        let later = Moment(instant.advanced(by: .milliseconds(1500)))
        #expect(moment < later && !(later < moment))
        #expect(later.since(moment) == .milliseconds(1500))
        #expect(moment.since(later) == .milliseconds(-1500))
        // Before the process's origin too (a moment taken early and handed over late).
        let earlier = Moment(instant.advanced(by: .seconds(-3600)))
        #expect(earlier < moment && earlier.instant == instant.advanced(by: .seconds(-3600)))
        #expect(Moment.now >= moment)
    }
}
