import SluiceCore

/// The channels of a server, created by their first use (publish or subscribe).
///
/// ```swift
/// let channels = ChannelRegistry()
/// var router = Router()
/// router.addChannels(channels)
/// try channels.channel("news")?.publish(data: "hello")
/// ```
public final class ChannelRegistry: Sendable {
    public let configuration: ChannelConfiguration
    private let channels = Locked<[String: Channel]>([:])

    public init(configuration: ChannelConfiguration = ChannelConfiguration()) {
        self.configuration = configuration
    }

    /// The channel of that name, created when new; nil for an invalid name (1–64 of `A-Z a-z 0-9 _ . -`)
    /// or when `maxChannels` exist already.
    public func channel(_ name: String) -> Channel? {
        guard Self.isValid(name) else { return nil }
        return channels.withLock { all in
            if let found = all[name] { return found }
            guard all.count < configuration.maxChannels else { return nil }
            let created = Channel(name: name, configuration: configuration)
            all[name] = created
            return created
        }
    }

    /// The channel if it exists, without creating it.
    public func existing(_ name: String) -> Channel? { channels.withLock { $0[name] } }

    public var names: [String] { channels.withLock { $0.keys.sorted() } }

    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
