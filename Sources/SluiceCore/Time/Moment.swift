/// A moment on `ContinuousClock`, kept as the time since a fixed moment of this process.
///
/// `ContinuousClock.Instant` is resilient (its layout is not known outside the standard library), so
/// every struct that held one — a `Request`, a file cache entry — was copied, compared and destroyed
/// through the runtime's value witnesses; a `Duration` is a plain pair of integers. Converted to and
/// from an `Instant` only where one is asked for.
///
/// ```swift
/// let start = Moment.now
/// let waited = Moment.now.since(start)   // a Duration
/// ```
public struct Moment: Comparable, Hashable, Sendable {
    /// The time since `origin`.
    @usableFromInline let sinceOrigin: Duration

    public init(_ instant: ContinuousClock.Instant) {
        sinceOrigin = Self.origin.duration(to: instant)
    }

    public static var now: Moment { Moment(ContinuousClock.now) }

    /// The same moment as a `ContinuousClock.Instant`.
    public var instant: ContinuousClock.Instant { Self.origin.advanced(by: sinceOrigin) }

    /// How long after `earlier` this moment lies (negative when it lies before).
    @inlinable public func since(_ earlier: Moment) -> Duration { sinceOrigin - earlier.sinceOrigin }

    @inlinable public static func < (a: Moment, b: Moment) -> Bool { a.sinceOrigin < b.sinceOrigin }

    private static let origin = ContinuousClock.now
}
