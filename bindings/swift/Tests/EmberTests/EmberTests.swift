// Test of the Swift surface with XCTest: generated bindings, async sugar, the living index with the
// real model, typed errors, cancellation, a Swift Embedder, use after close, threads racing writes
// and close, and the README's iOS snippet. Run by scripts/sdk/test-bindings.sh (swift test).
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

/// A model-free embedder written in Swift: hashed bag of words, as Core ML would plug in. It puts
/// its query prefix (none by default) before queries, and counts its calls by kind.
final class WordHashEmbedder: Embedder, @unchecked Sendable {
    let size: Int
    let id: String
    let queryPrefix: String
    private let lock = NSLock()
    private var kindCalls: [TextKind: Int] = [:]
    init(size: Int = 32, id: String = "swift-words-32", queryPrefix: String = "") {
        self.size = size
        self.id = id
        self.queryPrefix = queryPrefix
    }
    func calls(_ kind: TextKind) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return kindCalls[kind, default: 0]
    }
    func embed(texts: [String], kind: TextKind) throws -> [[Float]] {
        lock.lock()
        kindCalls[kind, default: 0] += 1
        lock.unlock()
        return texts.map { text in
            var v = [Float](repeating: 0, count: size)
            for word in (prefix(kind: kind) + text).lowercased().split(whereSeparator: { !$0.isLetter }) {
                var h: UInt32 = 5381
                for b in word.utf8 { h = h &* 33 &+ UInt32(b) }
                v[Int(h % UInt32(size))] += 1
            }
            return v
        }
    }
    func dim() -> UInt32 { UInt32(size) }
    func modelId() -> String { id }
    func prefix(kind: TextKind) -> String { kind == .query ? queryPrefix : "" }
}

final class FailingEmbedder: Embedder, @unchecked Sendable {
    func embed(texts: [String], kind: TextKind) throws -> [[Float]] {
        throw EmberError.InvalidArgument(detail: "accelerator is busy")
    }
    func dim() -> UInt32 { 8 }
    func modelId() -> String { "failing" }
    func prefix(kind: TextKind) -> String { "" }
}

final class Progress: ProgressListener, @unchecked Sendable {
    var seen: [UInt64] = []
    func onProgress(done: UInt64, total: UInt64) { seen.append(done) }
}

/// Cancels a token at the first progress report (cancellation midway).
final class CancelOnProgress: ProgressListener, @unchecked Sendable {
    let token: CancellationToken
    init(_ token: CancellationToken) { self.token = token }
    func onProgress(done: UInt64, total: UInt64) { token.cancel() }
}

/// Counters shared by test threads.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Int] = [:]
    private(set) var failures: [String] = []
    func add(_ key: String) { lock.lock(); values[key, default: 0] += 1; lock.unlock() }
    func fail(_ what: String) { lock.lock(); failures.append(what); lock.unlock() }
    subscript(_ key: String) -> Int { lock.lock(); defer { lock.unlock() }; return values[key, default: 0] }
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
        // What the search cost: every thread's CPU time and the energy estimate from it.
        XCTAssertGreaterThan(report.cpuMs ?? 0, 0)
        XCTAssertGreaterThan(report.energyMj ?? 0, 0)
        let stats = try index.stats()
        XCTAssertEqual(stats.passages, 6)
        XCTAssertEqual(stats.dim, 384)
        XCTAssertEqual(try index.ids().sorted(), notes.map(\.id).sorted())
        // The running cost per mode, saved for the next session.
        let costs = try index.modeCosts()
        XCTAssertEqual(costs.recompute.searches, 1)
        XCTAssertGreaterThan(costs.recompute.cpuMs, 0)
        index.close()
        XCTAssertTrue(index.isClosed())
        XCTAssertThrowsError(try index.stats()) { XCTAssertEqual($0 as? EmberError, .Closed) }

        // The app's own energy profile prices the estimate: 2 J per CPU-second.
        let profile = EnergyProfile(bigJPerCpuS: 2, littleJPerCpuS: 0.5, bigShare: 1)
        let reopened = try EmberIndex.open(dir: path("onnx"), embedder: embedder, options: OpenOptions(energy: profile))
        XCTAssertEqual(try reopened.modeCosts().recompute.searches, 0)
        try reopened.setModeCosts(costs: costs)
        XCTAssertEqual(try reopened.modeCosts(), costs)
        var bad = costs
        bad.stored = ModeCost(searches: 1, cpuMs: .nan, energyMj: 0)
        XCTAssertThrowsError(try reopened.setModeCosts(costs: bad)) {
            guard case .InvalidArgument? = $0 as? EmberError else { return XCTFail("\($0)") }
        }
        let again = try reopened.search(query: "cooking spaghetti")
        XCTAssertEqual(again.hits.first?.id, "pasta")
        // The build measured the effort searches use when beam and rerank are nil.
        let defaults = try reopened.searchDefaults()
        XCTAssertNotNil(defaults.calibratedAt)
        let codes = try reopened.search(query: "cooking spaghetti", options: SearchOptions(mode: .codesOnly))
        XCTAssertEqual(codes.beam, UInt64(defaults.stored.beam))
        XCTAssertEqual(codes.rerank, 0)
        let asked = try reopened.search(query: "pasta", options: SearchOptions(mode: .codesOnly, beam: 77))
        XCTAssertEqual(asked.beam, 77)
        let cpuMs = try XCTUnwrap(again.cpuMs)
        XCTAssertEqual(try XCTUnwrap(again.energyMj), 2 * cpuMs, accuracy: 1e-9)
    }

    func testAppHeldText() throws {
        final class AppTexts: TextSource, @unchecked Sendable {
            var texts = Dictionary(uniqueKeysWithValues: notes.map { ($0.id, $0.text) })
            var calls = 0
            func texts(ids: [String]) throws -> [String] {
                calls += 1
                return try ids.map { id in
                    guard let t = texts[id] else { throw EmberError.TextUnavailable(detail: "the app lost \(id)") }
                    return t
                }
            }
        }
        let embedder = try onnxEmbedder(modelDir: modelDir)
        let index = try EmberIndex.create(
            dir: path("held"), embedder: embedder, passages: notes, config: IndexConfig(vectors: .none, text: TextStorage.none))
        let stats = try index.stats()
        XCTAssertEqual(stats.text, TextStorage.none)
        XCTAssertEqual(stats.textStoreBytes, 0)
        XCTAssertGreaterThan(stats.dirBytes, 0)
        XCTAssertThrowsError(try index.search(query: "cooking spaghetti", options: SearchOptions(mode: .recompute))) {
            guard case .TextUnavailable? = $0 as? EmberError else { return XCTFail("\($0)") }
        }
        let app = AppTexts()
        try index.setTextSource(source: app)
        let report = try index.search(query: "cooking spaghetti", options: SearchOptions(mode: .recompute, k: 3))
        XCTAssertEqual(report.hits.first?.id, "pasta")
        XCTAssertEqual(app.calls, 1)
        XCTAssertEqual(try index.get(id: "pasta")?.text, notes[2].text)
        app.texts["pasta"] = "edited behind the index's back"
        XCTAssertThrowsError(try index.get(id: "pasta")) {
            XCTAssertEqual($0 as? EmberError, .TextChanged(id: "pasta"))
        }
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
        // The same model with a query prefix the index was not built with: its vectors would not compare.
        XCTAssertThrowsError(try EmberIndex.open(dir: path("words"), embedder: WordHashEmbedder(queryPrefix: "query: "))) {
            guard case .ModelMismatch(indexModel: _, givenModel: let given)? = $0 as? EmberError else { return XCTFail("\($0)") }
            XCTAssertTrue(given.contains("query prefix"), given)
        }
    }

    func testSwiftEmbedderBuildsSearchesAndItsErrorsComeBack() throws {
        let words = WordHashEmbedder()
        let index = try EmberIndex.create(dir: path("foreign"), embedder: words, passages: notes)
        // Building embeds passages, then its sample queries in one call (to measure its search
        // defaults); the search embeds its text as a query, once (recompute re-embeds candidates
        // as passages).
        XCTAssertGreaterThan(words.calls(.passage), 0)
        XCTAssertEqual(words.calls(.query), 1)
        XCTAssertEqual(try index.search(query: "feed cat", options: SearchOptions(mode: .recompute, k: 2)).hits.first?.id, "cat")
        XCTAssertEqual(words.calls(.query), 2)
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

    func testLivingIndexWithTheRealModel() throws {
        let embedder = try onnxEmbedder(modelDir: modelDir)
        let travel: [String: MetadataValue] = ["folder": .str("travel"), "year": .int(2024)]
        let home: [String: MetadataValue] = ["folder": .str("home"), "year": .int(2023)]
        let index = try EmberIndex.create(dir: path("living"), embedder: embedder, passages: [
            Passage(id: "battery", text: "Buy batteries for the torch before the camping trip", metadata: travel),
            Passage(id: "disk", text: "Free disk space by deleting old build folders", metadata: home),
            Passage(id: "pasta", text: "Boil the pasta for nine minutes in salted water", metadata: home),
            Passage(id: "train", text: "The train to the coast leaves at seven in the morning", metadata: travel),
        ])
        let filtered = try index.search(
            query: "batteries for a flashlight", options: SearchOptions(mode: .auto, filter: "folder = \"home\"")
        ).hits.map(\.id)
        XCTAssertFalse(filtered.isEmpty)
        XCTAssertTrue(filtered.allSatisfy { $0 == "disk" || $0 == "pasta" }, "\(filtered)")
        XCTAssertThrowsError(try index.search(query: "x", options: SearchOptions(mode: .auto, filter: "year >"))) {
            guard case .InvalidArgument? = $0 as? EmberError else { return XCTFail("\($0)") }
        }

        let ferry = Passage(id: "ferry", text: "The ferry to the island sails at noon", metadata: [
            "folder": .str("travel"), "year": .int(2025), "pinned": .bool(true), "weight": .float(0.5),
        ])
        let progress = Progress()
        try index.add(passages: [ferry], listener: progress)
        XCTAssertEqual(progress.seen, [1])
        XCTAssertThrowsError(try index.add(passages: [ferry])) { XCTAssertEqual($0 as? EmberError, .DuplicateId(id: "ferry")) }
        XCTAssertThrowsError(try index.update(passages: [Passage(id: "ghost", text: "boo")])) {
            XCTAssertEqual($0 as? EmberError, .UnknownId(id: "ghost"))
        }
        XCTAssertEqual(try index.get(id: "ferry"), ferry)
        XCTAssertNil(try index.get(id: "ghost"))
        try index.update(passages: [Passage(id: "pasta", text: "Cook the risotto for eighteen minutes, stirring", metadata: travel)])
        XCTAssertTrue(try index.get(id: "pasta")?.text.contains("risotto") ?? false)
        XCTAssertEqual(try index.delete(ids: ["disk", "ghost"]), 1)
        XCTAssertNil(try index.get(id: "disk"))

        // One writer at a time; a read-only handle searches beside it.
        XCTAssertThrowsError(try EmberIndex.open(dir: path("living"), embedder: embedder)) {
            guard case .Locked? = $0 as? EmberError else { return XCTFail("\($0)") }
        }
        let reader = try EmberIndex.open(dir: path("living"), embedder: embedder, options: OpenOptions(readOnly: true))
        XCTAssertEqual(try reader.search(query: "boat to the island").hits.first?.id, "ferry")
        XCTAssertThrowsError(try reader.delete(ids: ["battery"])) {
            guard case .ReadOnly? = $0 as? EmberError else { return XCTFail("\($0)") }
        }
        reader.close()

        try index.commit()
        let stats = try index.stats()
        XCTAssertEqual(stats.passages, 4)
        XCTAssertEqual(stats.deleted, 2) // the deleted passage and the replaced text
        XCTAssertEqual(stats.pendingOps, 0)
        index.close()

        let again = try EmberIndex.open(dir: path("living"), embedder: embedder, options: OpenOptions(durability: .buffered))
        XCTAssertTrue(try again.get(id: "pasta")?.text.contains("risotto") ?? false)
        XCTAssertNil(try again.get(id: "disk"))
        XCTAssertEqual(try again.get(id: "ferry"), ferry)
        XCTAssertNil(try again.lastWriteCost())
        try again.compact()
        XCTAssertNotNil(try again.lastWriteCost()?.cpuMs)
        let compacted = try again.stats()
        XCTAssertEqual(compacted.deleted, 0)
        XCTAssertGreaterThan(compacted.generation, stats.generation)
        XCTAssertEqual(try again.search(query: "cheap flashlight batteries").hits.first?.id, "battery")
        again.close()
    }

    func testDeviceStateAndStoredVectors() throws {
        let index = try EmberIndex.create(dir: path("device"), embedder: try onnxEmbedder(modelDir: modelDir), passages: notes)
        defer { index.close() }
        try index.setDeviceState(state: DeviceState(batteryPercent: 5, charging: false, lowPowerMode: false, freeStorageBytes: 1 << 32))
        let low = try index.search(query: "feed the cat")
        XCTAssertEqual(low.mode, .codesOnly)
        XCTAssertEqual(low.vectorsAdvice, .keep)
        XCTAssertEqual(try index.embedThreads(), 1) // on battery: one thread
        try index.setDeviceState(state: DeviceState(batteryPercent: 50, charging: true, lowPowerMode: false, freeStorageBytes: 64 << 30))
        XCTAssertEqual(try index.search(query: "feed the cat").vectorsAdvice, .materialize)
        try index.materializeVectors(precision: .f16)
        XCTAssertGreaterThan(try index.stats().sidecarBytes, 0)
        let stored = try index.search(query: "feed the cat")
        XCTAssertEqual(stored.mode, .storedRerank)
        XCTAssertEqual(stored.hits.first?.id, "cat")
        try index.evictVectors()
        XCTAssertEqual(try index.stats().sidecarBytes, 0)
        XCTAssertThrowsError(try index.setDeviceState(state: DeviceState(batteryPercent: 101, charging: false, lowPowerMode: false, freeStorageBytes: 0)))
    }

    func testKeywordAndHybridSearch() throws {
        let embedder = try onnxEmbedder(modelDir: modelDir)
        let index = try EmberIndex.create(
            dir: path("keywords"), embedder: embedder, passages: notes,
            config: IndexConfig(vectors: .none, keywords: true))
        defer { index.close() }
        XCTAssertGreaterThan(try index.stats().keywordBytes, 0)
        let kw = try index.search(query: "april", options: SearchOptions(mode: .auto, retrieval: .keywords))
        XCTAssertEqual(kw.retrieval, .keywords)
        XCTAssertEqual(kw.hits.map(\.id), ["tax"])
        XCTAssertEqual(kw.embedMs, 0)
        let hybrid = try index.search(query: "cooking spaghetti")
        XCTAssertEqual(hybrid.retrieval, .hybrid)
        XCTAssertEqual(hybrid.hits.first?.id, "pasta")
        XCTAssertThrowsError(try index.search(query: "x", options: SearchOptions(mode: .auto, fusion: "mean")))
        try index.dropKeywords()
        XCTAssertEqual(try index.stats().keywordBytes, 0)
        XCTAssertEqual(try index.search(query: "april").retrieval, .dense)
        try index.buildKeywords(stem: false)
        XCTAssertEqual(try index.search(query: "april").retrieval, .hybrid)
    }

    func testCancelledTokenLeavesTheIndexAsItWas() throws {
        let index = try EmberIndex.create(dir: path("cancel-add"), embedder: WordHashEmbedder(), passages: Array(notes.prefix(3)))
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(try index.add(passages: Array(notes.dropFirst(3)), cancel: token)) {
            XCTAssertEqual($0 as? EmberError, .Cancelled)
        }
        let midway = CancellationToken()
        XCTAssertThrowsError(try index.add(passages: Array(notes.dropFirst(3)), listener: CancelOnProgress(midway), cancel: midway)) {
            XCTAssertEqual($0 as? EmberError, .Cancelled)
        }
        XCTAssertThrowsError(try index.materializeVectors(precision: .f32, cancel: token)) {
            XCTAssertEqual($0 as? EmberError, .Cancelled)
        }
        XCTAssertEqual(try index.passageCount(), 3)
        XCTAssertEqual(try index.stats().pendingOps, 0)
        index.close()
        let reopened = try EmberIndex.open(dir: path("cancel-add"), embedder: WordHashEmbedder())
        XCTAssertEqual(try reopened.ids().sorted(), notes.prefix(3).map(\.id).sorted())
        reopened.close()
    }

    func testUseAfterClose() throws {
        let index = try EmberIndex.create(dir: path("closed"), embedder: WordHashEmbedder(), passages: notes)
        index.close()
        index.close() // twice: ignored
        XCTAssertTrue(index.isClosed())
        for call in [
            { _ = try index.search(query: "cat") },
            { try index.add(passages: [Passage(id: "late", text: "too late")]) },
            { _ = try index.delete(ids: ["cat"]) },
            { try index.commit() },
            { try index.compact() },
            { _ = try index.get(id: "cat") },
            { try index.setDeviceState(state: DeviceState(batteryPercent: 50, charging: false, lowPowerMode: false, freeStorageBytes: 0)) },
            { try index.evictVectors() },
        ] as [() throws -> Void] {
            XCTAssertThrowsError(try call()) { XCTAssertEqual($0 as? EmberError, .Closed) }
        }
        // The files were released: the index opens for writing again.
        try EmberIndex.open(dir: path("closed"), embedder: WordHashEmbedder()).close()
    }

    func testThreadsSearchWhileOneAddsThenCloseRacesSearches() throws {
        let index = try EmberIndex.create(dir: path("threads"), embedder: WordHashEmbedder(), passages: notes)
        let tally = Tally()
        let stop = Tally()
        // Eight threads search while this one adds.
        let group = DispatchGroup()
        for _ in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while stop["stop"] == 0 {
                    do {
                        if try index.search(query: "feed the cat").hits.isEmpty { tally.fail("no hits") }
                        tally.add("searches")
                    } catch { tally.fail("search while adding: \(error)"); return }
                }
            }
        }
        for i in 0..<12 {
            try index.add(passages: [Passage(id: "extra-\(i)", text: "Extra note number \(i) about the garden")])
        }
        stop.add("stop")
        group.wait()
        XCTAssertEqual(tally.failures, [])
        XCTAssertEqual(try index.passageCount(), 18)

        // close() races with searches: each returns hits or throws .Closed.
        let started = DispatchSemaphore(value: 0)
        for _ in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var first = true
                while true {
                    do {
                        _ = try index.search(query: "feed the cat")
                        if first { started.signal(); first = false }
                    } catch EmberError.Closed {
                        tally.add("closed")
                        if first { started.signal() }
                        return
                    } catch { tally.fail("racing search: \(error)"); return }
                }
            }
        }
        for _ in 0..<8 { started.wait() }
        index.close()
        group.wait()
        XCTAssertEqual(tally.failures, [])
        XCTAssertEqual(tally["closed"], 8)
        try EmberIndex.open(dir: path("threads"), embedder: WordHashEmbedder()).close()
    }

    func testAsyncAndReadmeSnippet() async throws {
        let index = try await EmberIndex.create(dir: path("async"), embedder: WordHashEmbedder(), passages: notes)
        try await index.add(passages: [Passage(id: "tea", text: "Brew green tea for two minutes")])
        try await index.update(passages: [Passage(id: "tea", text: "Brew black tea for four minutes")])
        try await index.commit()
        _ = try index.delete(ids: ["cat"])
        try await index.compact()
        let report = try await index.search(query: "tax return")
        XCTAssertEqual(report.hits.first?.id, "tax")
        XCTAssertTrue(try index.get(id: "tea")?.text.contains("black") ?? false)
        index.close()
        let top = try await findNotes(modelDir: modelDir, indexDir: path("readme"))
        XCTAssertEqual(top.first, "battery")
    }
}
