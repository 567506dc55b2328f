/// A weak reference to a transport's buffer, for the buffer's own signal callback: a strong one
/// would make the buffer keep itself alive.
final class WeakBuffer<Element: Sendable>: @unchecked Sendable {
    weak var buffer: MessageBuffer<Element>?
}
