/// Who speaks in a conversation turn. The raw values are the role names chat templates use.
public enum ChatRole: String, Sendable, CaseIterable {
    case system, user, assistant
}

/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: ChatRole
    public var content: String

    public init(_ role: ChatRole, _ content: String) {
        self.role = role
        self.content = content
    }
}
