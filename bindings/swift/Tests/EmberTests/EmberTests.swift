// Smoke test of the Swift surface with XCTest: generated bindings, async sugar, a Swift Embedder,
// typed errors, and the README's iOS snippet. Run by scripts/test-bindings.sh (swift test).
import Ember
import Foundation
import XCTest

let notes = [
    Passage(id: "battery", text: "Buy batteries for the torch before the camping trip"),
    Passage(id: "disk", text: "Free disk space by deleting old build folders"),
    Passage(id: "pasta", text: "Boil the pasta for nine minutes in salted water"),
    Passage(id: "train", text: "The train to the coast leaves at seven in the morning"),
    Passage(id: "cat", text: "Feed the cat twice a day and refill its water bowl"),
    Passage(id: "tax", text: "File the tax return before the end of April"),
]

/// A model-free embedder written in Swift: hashed bag of words, as Core ML would plug in.
final class WordHashEmbedder: Embedder, @unchecked Sendable {
    let size: Int
    let id: String
    init(size: Int = 32, id: String = "swift-words-32") {
        self.size = size
        self.id = id
    }
    func embed(texts: [String]) throws -> [[Float]] {
        texts.map { text in
            var v = [Float](repeating: 0, count: size)
            for word in text.lowercased().split(whereSeparator: { !$0.isLetter }) {
                var h: UInt32 = 5381
                for b in word.utf8 { h = h &* 33 &+ UInt32(b) }
                v[Int(h % UInt32(size))] += 1
            }
            return v
        }
    }
    func dim() -> UInt32 { UInt32(size) }
    func modelId() -> String { id }
}

final class FailingEmbedder: Embedder, @unchecked Sendable {
    func embed(texts: [String]) throws -> [[Float]] { throw EmberError.InvalidArgument(detail: "accelerator is busy") }
    func dim() -> UInt32 { 8 }
    func modelId() -> String { "failing" }
}

final class Progress: ProgressListener, @unchecked Sendable {
    var seen: [UInt64] = []
    func onProgress(done: UInt64, total: UInt64) { seen.append(done) }
}

final class EmberTests: XCTestCase {
    var scratch: URL!
    var modelDir: String!

    override func setUpWithError() throws {
        modelDir = try XCTUnwrap(ProcessInfo.processInfo.environment["EMBER_MODEL_DIR"], "set EMBER_MODEL_DIR")
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ember-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testVersion() {
        XCTAssertEqual(version(), ProcessInfo.processInfo.environment["EMBER_VERSION"])
    }

    func testBuildSearchReopenWithOnnxModel() throws {
        let embedder = try onnxEmbedder(modelDir: modelDir)
        XCTAssertEqual(embedder.dim(), 384)
        let progress = Progress()
        let index = try EmberIndex.create(
            dir: path("onnx"), embedder: embedder, passages: notes,
            config: IndexConfig(vectors: .none, embedChunk: 2), listener: progress)
        XCTAssertEqual(progress.seen, [2, 4, 6])
        let report = try index.search(
            query: "where do I get batteries for my flashlight", options: SearchOptions(mode: .recompute, k: 3))
        XCTAssertEqual(report.hits.map(\.id).first, "battery")
        XCTAssertEqual(report.hits.count, 3)
        XCTAssertEqual(report.mode, .recompute)
        let stats = try index.stats()
        XCTAssertEqual(stats.passages, 6)
        XCTAssertEqual(stats.dim, 384)
        XCTAssertEqual(try index.ids().sorted(), notes.map(\.id).sorted())
        index.close()
        XCTAssertTrue(index.isClosed())
        XCTAssertThrowsError(try index.stats()) { XCTAssertEqual($0 as? EmberError, .Closed) }

        let reopened = try EmberIndex.open(dir: path("onnx"), embedder: embedder)
        XCTAssertEqual(try reopened.search(query: "cooking spaghetti").hits.first?.id, "pasta")
    }

    func testTypedErrors() throws {
        XCTAssertThrowsError(try onnxEmbedder(modelDir: path("no-model"))) { error in
            guard case .NotFound(let detail)? = error as? EmberError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("no-model"))
        }
        let corrupt = scratch.appendingPathComponent("corrupt")
        try FileManager.default.createDirectory(at: corrupt, withIntermediateDirectories: true)
        try "segment-000001.ember\n".write(to: corrupt.appendingPathComponent("CURRENT"), atomically: true, encoding: .utf8)
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 * 31) })
            .write(to: corrupt.appendingPathComponent("segment-000001.ember"))
        XCTAssertThrowsError(try EmberIndex.open(dir: corrupt.path)) { error in
            guard case .Corrupt? = error as? EmberError else { return XCTFail("\(error)") }
        }
        let index = try EmberIndex.create(dir: path("words"), embedder: WordHashEmbedder(), passages: notes)
        XCTAssertThrowsError(try index.searchVector(vector: [1, 0, 0])) { error in
            XCTAssertEqual(error as? EmberError, .DimensionMismatch(expected: 32, found: 3))
        }
        // One read-write opener at a time: close before reopening with another model.
        index.close()
        XCTAssertThrowsError(try EmberIndex.open(dir: path("words"), embedder: WordHashEmbedder(id: "other"))) { error in
            guard case .ModelMismatch? = error as? EmberError else { return XCTFail("\(error)") }
        }
    }

    func testSwiftEmbedderBuildsSearchesAndItsErrorsComeBack() throws {
        let index = try EmberIndex.create(dir: path("foreign"), embedder: WordHashEmbedder(), passages: notes)
        XCTAssertEqual(try index.search(query: "feed cat", options: SearchOptions(mode: .recompute, k: 2)).hits.first?.id, "cat")
        XCTAssertThrowsError(try EmberIndex.create(dir: path("failing"), embedder: FailingEmbedder(), passages: notes)) { error in
            XCTAssertEqual(error as? EmberError, .InvalidArgument(detail: "accelerator is busy"))
        }
    }

    func testCancelledTokenStopsBuildBeforeItWrites() throws {
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(
            try EmberIndex.create(dir: path("cancelled"), embedder: WordHashEmbedder(), passages: notes, cancel: token)
        ) { XCTAssertEqual($0 as? EmberError, .Cancelled) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("cancelled")))
    }

    func testAsyncAndReadmeSnippet() async throws {
        let index = try await EmberIndex.create(dir: path("async"), embedder: WordHashEmbedder(), passages: notes)
        let report = try await index.search(query: "tax return")
        XCTAssertEqual(report.hits.first?.id, "tax")
        let top = try await findNotes(modelDir: modelDir, indexDir: path("readme"))
        XCTAssertEqual(top.first, "battery")
    }
}
