import ArgumentParser
import Foundation
import LongLMModels

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text (BOS added as the model says).")

    @Option(name: [.short, .long], help: ArgumentHelp("A .gguf file or a Hugging Face directory.", valueName: "path"))
    var model: String
    @Option(help: "The text to tokenize.") var text: String?
    @Option(help: ArgumentHelp("Read the text from a file.", valueName: "file")) var file: String?
    @Flag(help: "Print a JSON object with ids and pieces.") var json = false

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give exactly one of --text, --file") }
    }

    func run() throws {
        guard isRankZeroOrAlone() else { return }
        let tokenizer = reportingErrors { try TokenizerLoader.load(modelPath: model) }
        let input = reportingErrors { try text ?? readText(file!, option: "--file") }
        let ids = reportingErrors { try tokenizer.encode(input, addSpecial: true) }
        if json {
            let pieces = ids.map { String(decoding: tokenizer.pieceBytes($0), as: UTF8.self) }
            let object: [String: Any] = ["ids": ids.map(Int.init), "pieces": pieces, "count": ids.count]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
