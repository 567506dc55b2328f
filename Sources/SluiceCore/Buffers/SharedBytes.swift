import CLibevent

/// Immutable bytes in memory that an output buffer may send by reference: libevent holds them (a
/// retain) until it has written them, so they reach the socket without a copy into the output.
/// A cache of settled files keeps its files' bytes this way (``FileRegion/inMemory``).
///
/// ```swift
/// let bytes = try SharedBytes(count: size) { try region.read(at: 0, into: $0) }
/// _ = bytes.addReference(to: bufferevent_get_output(bev), offset: 0, count: size)
/// ```
public final class SharedBytes: @unchecked Sendable {
    // @unchecked: written only while initialized, read-only after.
    public let base: UnsafeRawPointer
    public let count: Int

    /// `count` bytes filled by `initialize`; when it throws, nothing is kept and the error passes on.
    public init(count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: memory, count: count))
        } catch {
            memory.deallocate()
            throw error
        }
        base = UnsafeRawPointer(memory)
        self.count = count
    }

    deinit { UnsafeMutableRawPointer(mutating: base).deallocate() }

    /// Appends `count` of the bytes from `offset` to a libevent buffer by reference; false when
    /// libevent could not take them (nothing was added).
    public func addReference(to output: OpaquePointer, offset: Int, count: Int) -> Bool {
        precondition(offset >= 0 && count >= 0 && offset + count <= self.count, "a reference outside the shared bytes")
        let keeper = Unmanaged.passRetained(self).toOpaque()
        let added = evbuffer_add_reference(output, base + offset, count, { _, _, keeper in
            Unmanaged<SharedBytes>.fromOpaque(keeper!).release()
        }, keeper)
        // On failure libevent has not taken the reference (and will not call back).
        guard added == 0 else {
            Unmanaged<SharedBytes>.fromOpaque(keeper).release()
            return false
        }
        return true
    }
}
