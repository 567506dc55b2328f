extension AIStreamState {
    /// Folds one delta into the state. Returns an error the delta revealed (a finished tool call whose
    /// arguments are not valid JSON), which is also recorded in `errors`.
    @discardableResult
    mutating func apply(_ delta: AIStreamDelta) -> AIStreamError? {
        switch delta {
        case .started(let id, let model):
            self.id = self.id ?? id
            self.model = self.model ?? model
        case .text(let text, let choice):
            choices[slot(choice)].text += text
        case .thinking(let text, let choice):
            choices[slot(choice)].thinking += text
        case .thinkingSignature(let signature, let choice):
            let c = slot(choice)
            choices[c].thinkingSignature = (choices[c].thinkingSignature ?? "") + signature
        case .toolUseStart(let choice, let index, let id, let name):
            // Some servers repeat a call's index (even within the first chunk): the same call again.
            let (c, t) = call(choice, index)
            if choices[c].toolCalls[t].id == nil { choices[c].toolCalls[t].id = id }
            if (choices[c].toolCalls[t].name ?? "").isEmpty { choices[c].toolCalls[t].name = name }
        case .toolUseDelta(let choice, let index, let partial):
            let (c, t) = call(choice, index)
            if !choices[c].toolCalls[t].complete { choices[c].toolCalls[t].arguments += partial }
        case .toolUseEnd(let choice, let index, let arguments):
            let c = slot(choice)
            // Anthropic stops every content block, text ones too: only tool calls are completed.
            guard choices[c].toolCalls.contains(where: { $0.index == index }) || arguments != nil else { return nil }
            let (_, t) = call(choice, index)
            guard !choices[c].toolCalls[t].complete else { return nil }
            if let arguments { choices[c].toolCalls[t].arguments = arguments }
            return complete(c, t)
        case .usage(let usage):
            self.usage.merge(usage)
        case .stop(let reason, let choice):
            let c = slot(choice)
            choices[c].stopReason = reason
            return completeAll(in: c)
        case .error(let error):
            errors.append(error)
        case .end:
            finished = true
            var found: AIStreamError?
            for c in choices.indices { found = completeAll(in: c) ?? found }
            return found
        }
        return nil
    }

    /// Completes every open tool call of a choice (a stop or end closes them all).
    mutating func completeAll(in c: Int) -> AIStreamError? {
        var found: AIStreamError?
        for t in choices[c].toolCalls.indices where !choices[c].toolCalls[t].complete { found = complete(c, t) ?? found }
        return found
    }

    /// Parses the assembled arguments, once.
    private mutating func complete(_ c: Int, _ t: Int) -> AIStreamError? {
        choices[c].toolCalls[t].complete = true
        let text = choices[c].toolCalls[t].arguments
        if text.allSatisfy(\.isWhitespace) {
            choices[c].toolCalls[t].parsedArguments = .object([:])  // a tool without parameters
            return nil
        }
        do {
            choices[c].toolCalls[t].parsedArguments = try JSONValue(parsing: text)
            return nil
        } catch {
            choices[c].toolCalls[t].argumentsError = error.description
            let name = choices[c].toolCalls[t].name ?? "#\(choices[c].toolCalls[t].index)"
            let found = AIStreamError(type: "invalid_tool_arguments", message: "tool call \(name): \(error.description)")
            errors.append(found)
            return found
        }
    }

    /// The position of choice `index`, created when new; choices stay in index order.
    private mutating func slot(_ index: Int) -> Int {
        if let found = choices.firstIndex(where: { $0.index == index }) { return found }
        let position = choices.firstIndex { $0.index > index } ?? choices.endIndex
        choices.insert(AIChoice(index: index), at: position)
        return position
    }

    /// The positions of a tool call, created when new; calls stay in index order.
    private mutating func call(_ choice: Int, _ index: Int) -> (Int, Int) {
        let c = slot(choice)
        if let found = choices[c].toolCalls.firstIndex(where: { $0.index == index }) { return (c, found) }
        let position = choices[c].toolCalls.firstIndex { $0.index > index } ?? choices[c].toolCalls.endIndex
        choices[c].toolCalls.insert(AIToolCall(index: index), at: position)
        return (c, position)
    }
}
