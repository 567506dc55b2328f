import HTTPTypes

extension HTTPField.Name {
    /// Whether one of `fields` has this name. Lengths are compared first: most names differ in
    /// length, and comparing the names themselves goes through String's slow path.
    ///
    /// ```swift
    /// HTTPField.Name.date.occurs(in: [HTTPField(name: .date, value: "…")])  // true
    /// ```
    public func occurs(in fields: [HTTPField]) -> Bool {
        let count = canonicalName.utf8.count
        return fields.contains { $0.name.canonicalName.utf8.count == count && $0.name == self }
    }
}
