// Caps on what a model, config or tokenizer file may ask the loader to allocate, and how much of an offending
// string an error message may repeat. A file is untrusted input: every size it declares is checked against
// these (and against the file's own length) before anything is allocated for it.

enum InputLimits {
    /// GGUF metadata keys and tensor names (ggml's own limit for tensor names is 64 bytes).
    static let nameBytes = 4096
    /// One GGUF metadata string (chat templates, licences: tens of KB in real files).
    static let metadataStringBytes = 16 << 20
    /// One GGUF metadata array (the largest real ones are vocabularies and merge lists, under 10^6 entries).
    static let arrayCount = 1 << 22
    /// All GGUF metadata array elements together: each decoded element costs about 24 bytes of memory however
    /// few bytes it took in the file, so this bounds the metadata's memory independently of the file size.
    static let metadataElements = 1 << 23
    /// A safetensors JSON header (the format's reference reader refuses headers over 100 MB).
    static let safetensorsHeaderBytes = 100_000_000
    /// Token ids in a vocabulary (the largest real vocabularies are about 2^18).
    static let vocabularySize = 1 << 24
    /// Bytes of an offending string repeated in an error message.
    static let quotedBytes = 48
}

/// `text` for an error message: at most `InputLimits.quotedBytes` bytes (cut at a character boundary), control
/// characters escaped, in single quotes, with the full length when it was cut. A hostile file can make a name
/// hundreds of megabytes long; the message must stay one short line.
func quoted<S: StringProtocol>(_ text: S, limit: Int = InputLimits.quotedBytes) -> String {
    var out = "'"
    var bytes = 0
    var cut = false
    for scalar in text.unicodeScalars {
        let piece: String
        switch scalar.value {
        case 0x0A: piece = "\\n"
        case 0x09: piece = "\\t"
        case 0x0D: piece = "\\r"
        case 0x27: piece = "\\'"
        case 0x5C: piece = "\\\\"
        case 0..<0x20, 0x7F...0x9F: piece = "\\u{\(String(scalar.value, radix: 16))}"
        default: piece = String(scalar)
        }
        bytes += piece.utf8.count
        if bytes > limit { cut = true; break }
        out += piece
    }
    out += "'"
    if cut { out += "... (\(text.utf8.count) bytes)" }
    return out
}
