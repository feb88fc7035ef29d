// Test of the Kotlin surface on the JVM: the generated bindings (android/.../ember.kt), the
// coroutine layer (EmberCoroutines.kt) and the README's Android snippet (ReadmeSnippet.kt, cut from
// README.md by scripts/sdk/test-bindings.sh): the living index with the real model, typed exceptions,
// cancellation, a Kotlin Embedder, use after close, and threads racing writes and close. Run by
// scripts/sdk/test-bindings.sh; prints "N passed, N failed".
import java.io.File
import java.nio.file.Files
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import org.example.ember.*

val modelDir: String = System.getProperty("ember.model") ?: error("-Dember.model=DIR is required")
val scratch: File = Files.createTempDirectory("ember-kotlin").toFile()

val notes = listOf(
    Passage("battery", "Buy batteries for the torch before the camping trip"),
    Passage("disk", "Free disk space by deleting old build folders"),
    Passage("pasta", "Boil the pasta for nine minutes in salted water"),
    Passage("train", "The train to the coast leaves at seven in the morning"),
    Passage("cat", "Feed the cat twice a day and refill its water bowl"),
    Passage("tax", "File the tax return before the end of April"),
)

/** A model-free embedder written in Kotlin: hashed bag of words, as an accelerator would plug in.
 *  It puts its query prefix (none by default) before queries, and counts its calls by kind. */
class WordHashEmbedder(
    private val dim: Int = 64,
    private val id: String = "kotlin-words-64",
    private val queryPrefix: String = "",
) : Embedder {
    var calls = 0
    val queryCalls = AtomicInteger()
    val passageCalls = AtomicInteger()
    override fun embed(texts: List<String>, kind: TextKind): List<List<Float>> {
        calls++
        (if (kind == TextKind.QUERY) queryCalls else passageCalls).incrementAndGet()
        return texts.map { text ->
            val v = FloatArray(dim)
            (prefix(kind) + text).lowercase().split(Regex("\\W+")).filter { it.isNotEmpty() }.forEach { w ->
                v[Math.floorMod(w.hashCode(), dim)] += 1f
            }
            v.toList()
        }
    }
    override fun dim(): UInt = dim.toUInt()
    override fun modelId(): String = id
    override fun prefix(kind: TextKind): String = if (kind == TextKind.QUERY) queryPrefix else ""
}

inline fun <reified E : Throwable> expectThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

fun check(cond: Boolean, what: () -> String) {
    if (!cond) throw AssertionError(what())
}

val tests = linkedMapOf<String, () -> Unit>(
    "version" to {
        check(version() == System.getProperty("ember.version")) { "version ${version()}" }
    },
    "build, search, reopen with the ONNX model" to {
        val embedder = onnxEmbedder(modelDir)
        var saved: ModeCosts? = null
        check(embedder.dim() == 384u) { "dim ${embedder.dim()}" }
        val progress = mutableListOf<Long>()
        val dir = File(scratch, "onnx").path
        EmberIndex.create(dir, embedder, notes, IndexConfig(VectorStorage.NONE, embedChunk = 2u),
            progressListener { done, total -> check(total == 6L) { "total $total" }; progress += done }).use { index ->
            check(progress == listOf(2L, 4L, 6L)) { "progress $progress" }
            val report = index.search("where do I get batteries for my flashlight", SearchOptions(Mode.RECOMPUTE, k = 3u))
            check(report.hits.size == 3) { "hits ${report.hits}" }
            check(report.hits[0].id == "battery") { "top hit ${report.hits}" }
            check(report.mode == Mode.RECOMPUTE && report.reembedded > 0uL) { "report $report" }
            // What the search cost: every thread's CPU time and the energy estimate from it.
            check((report.cpuMs ?: 0.0) > 0.0 && (report.energyMj ?: 0.0) > 0.0) { "cost $report" }
            val stats = index.stats()
            check(stats.passages == 6uL && stats.dim == 384uL) { "stats $stats" }
            check(index.ids().sorted() == notes.map { it.id }.sorted()) { "ids ${index.ids()}" }
            check(index.passageCount() == 6uL && index.modelId() == embedder.modelId()) { "count/model" }
            // The running cost per mode, saved for the next session.
            val costs = index.modeCosts()
            check(costs.recompute.searches == 1uL && costs.recompute.cpuMs > 0.0 && costs.stored.searches == 0uL) { "costs $costs" }
            saved = costs
        }
        // The app's own energy profile prices the estimate: 2 J per CPU-second.
        val profile = EnergyProfile(bigJPerCpuS = 2.0, littleJPerCpuS = 0.5, bigShare = 1.0)
        EmberIndex.open(dir, embedder, OpenOptions(energy = profile)).use { index ->
            check(index.modeCosts().recompute.searches == 0uL) { "costs survive a close" }
            index.setModeCosts(saved!!)
            check(index.modeCosts() == saved) { "restored ${index.modeCosts()}" }
            val bad = saved!!.copy(codes = ModeCost(1uL, -1.0, 0.0))
            expectThrows<EmberException.InvalidArgument> { index.setModeCosts(bad) }
            val again = index.search("cooking spaghetti")
            check(again.hits[0].id == "pasta") { "reopened search" }
            val cpuMs = again.cpuMs ?: error("no cpu_ms on Linux")
            check(Math.abs((again.energyMj ?: 0.0) - 2.0 * cpuMs) < 1e-9) { "priced $again" }
        }
        // Kotlin's close() (AutoCloseable) frees the index: later calls fail in the bindings.
        val index = EmberIndex.open(dir, null)
        index.close()
        expectThrows<IllegalStateException> { index.stats() }
        expectThrows<IllegalStateException> { index.add(notes) }
        index.close() // twice: ignored
    },
    "app-held text: TextStorage.NONE, a Kotlin TextSource, changed text caught" to {
        val embedder = onnxEmbedder(modelDir)
        val texts = notes.associate { it.id to it.text }.toMutableMap()
        var calls = 0
        val source = object : TextSource {
            override fun texts(ids: List<String>): List<String> {
                calls++
                return ids.map { texts[it] ?: throw EmberException.TextUnavailable("the app lost $it") }
            }
        }
        EmberIndex.create(File(scratch, "held").path, embedder, notes,
            IndexConfig(VectorStorage.NONE, text = TextStorage.NONE)).use { index ->
            val stats = index.stats()
            check(stats.text == TextStorage.NONE && stats.textStoreBytes == 0uL && stats.dirBytes > 0uL) { "stats $stats" }
            expectThrows<EmberException.TextUnavailable> { index.search("cooking spaghetti", SearchOptions(Mode.RECOMPUTE)) }
            index.setTextSource(source)
            val report = index.search("cooking spaghetti", SearchOptions(Mode.RECOMPUTE, k = 3u))
            check(report.hits[0].id == "pasta" && calls == 1) { "search $report after $calls source calls" }
            check(index.get("pasta")?.text == texts["pasta"]) { "get ${index.get("pasta")}" }
            texts["pasta"] = "edited behind the index's back"
            val changed = expectThrows<EmberException.TextChanged> { index.get("pasta") }
            check(changed.id == "pasta") { "changed ${changed.id}" }
        }
    },
    "living index: metadata, filter, add, update, delete, get, commit, reopen, compact" to {
        val embedder = onnxEmbedder(modelDir)
        val dir = File(scratch, "living").path
        val travel = mapOf("folder" to MetadataValue.Str("travel"), "year" to MetadataValue.Int(2024))
        val home = mapOf("folder" to MetadataValue.Str("home"), "year" to MetadataValue.Int(2023))
        val index = EmberIndex.create(dir, embedder, listOf(
            Passage("battery", "Buy batteries for the torch before the camping trip", travel),
            Passage("disk", "Free disk space by deleting old build folders", home),
            Passage("pasta", "Boil the pasta for nine minutes in salted water", home),
            Passage("train", "The train to the coast leaves at seven in the morning", travel),
        ))
        val homeOnly = SearchOptions(Mode.AUTO, filter = "folder = \"home\"")
        val filtered = index.search("batteries for a flashlight", homeOnly).hits.map { it.id }
        check(filtered.isNotEmpty() && filtered.all { it == "disk" || it == "pasta" }) { "filtered $filtered" }
        expectThrows<EmberException.InvalidArgument> { index.search("x", SearchOptions(Mode.AUTO, filter = "year >")) }

        val ferry = Passage("ferry", "The ferry to the island sails at noon", mapOf(
            "folder" to MetadataValue.Str("travel"), "year" to MetadataValue.Int(2025),
            "pinned" to MetadataValue.Bool(true), "weight" to MetadataValue.Float(0.5)))
        val progress = mutableListOf<Long>()
        index.add(listOf(ferry), progressListener { done, _ -> progress += done })
        check(progress == listOf(1L)) { "add progress $progress" }
        val dup = expectThrows<EmberException.DuplicateId> { index.add(listOf(ferry)) }
        check(dup.id == "ferry") { "duplicate ${dup.id}" }
        val unknown = expectThrows<EmberException.UnknownId> { index.update(listOf(Passage("ghost", "boo"))) }
        check(unknown.id == "ghost") { "unknown ${unknown.id}" }
        check(index.get("ferry") == ferry) { "get ${index.get("ferry")}" }
        check(index.get("ghost") == null) { "get ghost" }

        index.update(listOf(Passage("pasta", "Cook the risotto for eighteen minutes, stirring", travel)))
        check(index.get("pasta")?.text?.contains("risotto") == true) { "updated ${index.get("pasta")}" }
        check(index.delete(listOf("disk", "ghost")) == 1uL) { "delete" }
        check(index.get("disk") == null) { "deleted passage readable" }

        // One writer at a time; a read-only handle searches beside it and sees the logged changes.
        expectThrows<EmberException.Locked> { EmberIndex.open(dir, embedder) }
        EmberIndex.open(dir, embedder, OpenOptions(readOnly = true)).use { reader ->
            check(reader.search("boat to the island").hits[0].id == "ferry") { "read-only search" }
            expectThrows<EmberException.ReadOnly> { reader.delete(listOf("battery")) }
        }
        index.commit()
        val stats = index.stats()
        check(stats.passages == 4uL && stats.deleted == 2uL && stats.pendingOps == 0uL) { "after commit $stats" }
        // The build measured the effort searches use when beam and rerank are null.
        val defaults = index.searchDefaults()
        check(defaults.calibratedAt != null && defaults.stored.rerank >= 10u) { "defaults $defaults" }
        // The two tombstones awaiting compaction widen the walk by (passages + deleted) / passages.
        val widen = (stats.passages + stats.deleted).toDouble() / stats.passages.toDouble()
        val codes = index.search("boat to the island", SearchOptions(mode = Mode.CODES_ONLY))
        check(codes.beam == (defaults.stored.beam.toDouble() * widen).toULong() && codes.rerank == 0uL) { "codes ran $codes" }
        val asked = index.search("boat", SearchOptions(mode = Mode.CODES_ONLY, beam = 77u)).beam
        check(asked == (77 * widen).toULong()) { "explicit beam: $asked" }
        index.close()

        EmberIndex.open(dir, embedder, OpenOptions(durability = Durability.BUFFERED)).use { again ->
            check(again.get("pasta")?.text?.contains("risotto") == true) { "update survived reopen" }
            check(again.get("disk") == null && again.get("ferry") == ferry) { "delete and add survived reopen" }
            check(again.lastWriteCost() == null) { "no write yet" }
            again.compact()
            check(again.lastWriteCost()?.cpuMs != null) { "compact cost ${again.lastWriteCost()}" }
            val s2 = again.stats()
            check(s2.passages == 4uL && s2.deleted == 0uL && s2.generation > stats.generation) { "after compact $s2" }
            check(again.search("cheap flashlight batteries").hits[0].id == "battery") { "search after compact" }
        }
    },
    "device state and stored vectors" to {
        val embedder = onnxEmbedder(modelDir)
        EmberIndex.create(File(scratch, "device").path, embedder, notes).use { index ->
            index.setDeviceState(DeviceState(5u, false, false, 1uL shl 32))
            val low = index.search("feed the cat")
            check(low.mode == Mode.CODES_ONLY && low.vectorsAdvice == VectorAction.KEEP) { "low battery $low" }
            check(index.embedThreads() == 1u) { "threads on battery ${index.embedThreads()}" }
            index.setDeviceState(DeviceState(50u, true, false, 64uL shl 30))
            val charging = index.search("feed the cat")
            check(charging.mode == Mode.RECOMPUTE && charging.vectorsAdvice == VectorAction.MATERIALIZE) { "$charging" }
            index.materializeVectors(Precision.F16)
            check(index.stats().sidecarBytes > 0uL) { "no sidecar" }
            val stored = index.search("feed the cat")
            check(stored.mode == Mode.STORED_RERANK && stored.hits[0].id == "cat") { "stored $stored" }
            index.evictVectors()
            check(index.stats().sidecarBytes == 0uL) { "sidecar left" }
            expectThrows<EmberException.InvalidArgument> { index.setDeviceState(DeviceState(101u, false, false, 0uL)) }
        }
    },
    "keyword and hybrid search" to {
        val embedder = onnxEmbedder(modelDir)
        val config = IndexConfig(VectorStorage.NONE, keywords = true)
        EmberIndex.create(File(scratch, "keywords").path, embedder, notes, config).use { index ->
            check(index.stats().keywordBytes > 0uL) { "no keyword index ${index.stats()}" }
            val kw = index.search("april", SearchOptions(Mode.AUTO, retrieval = Retrieval.KEYWORDS))
            check(kw.retrieval == Retrieval.KEYWORDS && kw.hits.map { it.id } == listOf("tax")) { "keywords $kw" }
            check(kw.embedMs == 0.0) { "a keyword search ran the model: $kw" }
            val hybrid = index.search("cooking spaghetti")
            check(hybrid.retrieval == Retrieval.HYBRID && hybrid.hits[0].id == "pasta") { "hybrid $hybrid" }
            val blend = index.search("salted water", SearchOptions(Mode.AUTO, fusion = "blend:0.5"))
            check(blend.hits[0].id == "pasta") { "blend $blend" }
            expectThrows<EmberException.InvalidArgument> { index.search("x", SearchOptions(Mode.AUTO, fusion = "mean")) }
            index.dropKeywords()
            check(index.stats().keywordBytes == 0uL && index.search("april").retrieval == Retrieval.DENSE) { "dropped" }
            index.buildKeywords(stem = false)
            check(index.search("april").retrieval == Retrieval.HYBRID) { "rebuilt" }
        }
    },
    "a cancelled token leaves the index as it was" to {
        val dir = File(scratch, "cancel-add").path
        EmberIndex.create(dir, WordHashEmbedder(), notes.take(3)).use { index ->
            val token = CancellationToken()
            token.cancel()
            expectThrows<EmberException.Cancelled> { index.add(notes.drop(3), null, token) }
            // Cancelled midway, from the progress listener.
            val midway = CancellationToken()
            expectThrows<EmberException.Cancelled> {
                index.add(notes.drop(3), progressListener { _, _ -> midway.cancel() }, midway)
            }
            expectThrows<EmberException.Cancelled> { index.materializeVectors(Precision.F32, null, token) }
            check(index.passageCount() == 3uL && index.stats().pendingOps == 0uL) { "changed: ${index.stats()}" }
        }
        EmberIndex.open(dir, WordHashEmbedder()).use { check(it.ids().sorted() == notes.take(3).map { p -> p.id }.sorted()) { "on disk" } }
    },
    "threads: 8 searching while one adds, then close racing searches" to {
        val dir = File(scratch, "threads").path
        val index = EmberIndex.create(dir, WordHashEmbedder(), notes)
        val failure = AtomicReference<Throwable?>(null)
        val searches = AtomicInteger()
        val stop = AtomicBoolean(false)
        val searchers = (1..8).map {
            thread {
                try {
                    while (!stop.get()) {
                        check(index.search("feed the cat").hits.isNotEmpty()) { "no hits" }
                        searches.incrementAndGet()
                    }
                } catch (e: Throwable) {
                    failure.compareAndSet(null, e)
                }
            }
        }
        for (i in 0 until 12) index.add(listOf(Passage("extra-$i", "Extra note number $i about the garden")))
        stop.set(true)
        searchers.forEach { it.join() }
        failure.get()?.let { throw AssertionError("search failed while adding", it) }
        check(index.passageCount() == 18uL && searches.get() >= 8) { "count ${index.passageCount()} searches $searches" }

        // shutdown() races with searches: each returns hits or throws EmberException.Closed. (AutoCloseable's
        // close() would not stop them: UniFFI frees the object only once no call is in flight.)
        val started = CountDownLatch(8)
        val closedSeen = AtomicInteger()
        val racers = (1..8).map {
            thread {
                try {
                    var first = true
                    while (true) {
                        check(index.search("feed the cat").hits.isNotEmpty()) { "no hits" }
                        if (first) started.countDown().also { first = false }
                    }
                } catch (e: EmberException.Closed) {
                    closedSeen.incrementAndGet()
                } catch (e: Throwable) {
                    failure.compareAndSet(null, e)
                }
            }
        }
        started.await()
        index.shutdown()
        racers.forEach { it.join() }
        failure.get()?.let { throw AssertionError("a racing search failed", it) }
        check(closedSeen.get() == 8 && index.isShutdown()) { "closed seen by ${closedSeen.get()} of 8" }
        expectThrows<EmberException.Closed> { index.add(listOf(Passage("late", "too late"))) }
        expectThrows<EmberException.Closed> { index.stats() }
        index.shutdown() // twice: ignored
        index.close()
        // Every call has returned, so the Rust index is gone and its writer lock with it.
        EmberIndex.open(dir, WordHashEmbedder()).use { check(it.passageCount() == 18uL) { "reopen" } }
    },
    "typed exceptions for bad input" to {
        val missing = expectThrows<EmberException.NotFound> { onnxEmbedder(File(scratch, "no-model").path) }
        check(missing.detail.contains("no-model")) { "detail ${missing.detail}" }
        val corrupt = File(scratch, "corrupt").apply { mkdirs() }
        File(corrupt, "CURRENT").writeText("segment-000001.ember\n")
        File(corrupt, "segment-000001.ember").writeBytes(ByteArray(4096) { (it * 31).toByte() })
        expectThrows<EmberException.Corrupt> { EmberIndex.open(corrupt.path, null) }
        expectThrows<EmberException.NotFound> { EmberIndex.open(File(scratch, "nothing").path, null) }

        val words = WordHashEmbedder()
        EmberIndex.create(File(scratch, "words").path, words, notes).use { index ->
            val e = expectThrows<EmberException.DimensionMismatch> { index.searchVector(listOf(1f, 0f, 0f)) }
            check(e.expected == 64uL && e.found == 3uL) { "mismatch $e" }
            expectThrows<EmberException.InvalidArgument> { index.search("cat", SearchOptions(Mode.AUTO, k = 0u)) }
        }
        expectThrows<EmberException.ModelMismatch> { EmberIndex.open(File(scratch, "words").path, WordHashEmbedder(64, "other")) }
        // The same model with a query prefix the index was not built with: its vectors would not compare.
        val prefixed = expectThrows<EmberException.ModelMismatch> {
            EmberIndex.open(File(scratch, "words").path, WordHashEmbedder(queryPrefix = "query: "))
        }
        check(prefixed.givenModel.contains("query prefix")) { "mismatch $prefixed" }
        expectThrows<EmberException.InvalidArgument> {
            EmberIndex.create(File(scratch, "dup").path, words, notes + notes[0])
        }
    },
    "a Kotlin Embedder builds and searches" to {
        val words = WordHashEmbedder()
        EmberIndex.create(File(scratch, "foreign").path, words, notes).use { index ->
            check(words.calls > 0) { "embedder not called" }
            // Building embeds passages, then its sample queries in one call (to measure its search
            // defaults); the search embeds its text as a query, once (recompute re-embeds
            // candidates as passages).
            check(words.passageCalls.get() > 0 && words.queryCalls.get() == 1) { "build: ${words.queryCalls.get()} query calls" }
            val hits = index.search("feed cat", SearchOptions(Mode.RECOMPUTE, k = 2u)).hits
            check(hits[0].id == "cat") { "hits $hits" }
            check(words.queryCalls.get() == 2) { "query calls ${words.queryCalls.get()}" }
            index.add(listOf(Passage("ferry", "The ferry leaves at noon")))
            check(words.queryCalls.get() == 2) { "add asked for a query" }
        }
        // The built-in model embeds both kinds (a symmetric model: the same vector).
        val onnx = onnxEmbedder(modelDir)
        check(onnx.prefix(TextKind.QUERY) == "" && onnx.embed(listOf("cat"), TextKind.QUERY).size == 1) { "onnx kinds" }
    },
    "errors thrown by a Kotlin Embedder come back as thrown" to {
        val failing = object : Embedder {
            override fun embed(texts: List<String>, kind: TextKind): List<List<Float>> =
                throw EmberException.InvalidArgument("accelerator is busy")
            override fun dim(): UInt = 8u
            override fun modelId(): String = "failing"
            override fun prefix(kind: TextKind): String = ""
        }
        val e = expectThrows<EmberException.InvalidArgument> { EmberIndex.create(File(scratch, "f1").path, failing, notes) }
        check(e.detail == "accelerator is busy") { "detail ${e.detail}" }
        val crashing = object : Embedder {
            override fun embed(texts: List<String>, kind: TextKind): List<List<Float>> = throw IllegalStateException("boom")
            override fun dim(): UInt = 8u
            override fun modelId(): String = "crashing"
            override fun prefix(kind: TextKind): String = ""
        }
        expectThrows<EmberException.Internal> { EmberIndex.create(File(scratch, "f2").path, crashing, notes) }
        val short = object : Embedder {
            override fun embed(texts: List<String>, kind: TextKind): List<List<Float>> = texts.map { listOf(1f, 2f) }
            override fun dim(): UInt = 8u
            override fun modelId(): String = "short"
            override fun prefix(kind: TextKind): String = ""
        }
        expectThrows<EmberException.DimensionMismatch> { EmberIndex.create(File(scratch, "f3").path, short, notes) }
    },
    "a cancelled token stops a build before it writes" to {
        val token = CancellationToken()
        token.cancel()
        val dir = File(scratch, "cancelled")
        expectThrows<EmberException.Cancelled> { EmberIndex.create(dir.path, WordHashEmbedder(), notes, null, null, token) }
        check(!dir.exists()) { "cancelled build wrote $dir" }
        val midway = CancellationToken()
        expectThrows<EmberException.Cancelled> {
            EmberIndex.create(dir.path, WordHashEmbedder(), notes, IndexConfig(VectorStorage.NONE, embedChunk = 2u),
                progressListener { _, _ -> midway.cancel() }, midway)
        }
        check(!File(dir, "CURRENT").exists()) { "a build cancelled midway wrote an index" }
    },
    "coroutines and the README snippet" to {
        runBlocking {
            val index = EmberIndex.createAsync(File(scratch, "async").path, WordHashEmbedder(), notes)
            index.use {
                it.addAsync(listOf(Passage("tea", "Brew green tea for two minutes")))
                it.updateAsync(listOf(Passage("tea", "Brew black tea for four minutes")))
                it.commitAsync()
                it.delete(listOf("cat"))
                it.compactAsync()
                check(it.searchAsync("tax return").hits[0].id == "tax") { "async search" }
                check(it.get("tea")?.text?.contains("black") == true) { "async update" }
            }
            val hits = findNotes(modelDir, File(scratch, "readme").path)
            check(hits.first() == "battery") { "readme snippet hits $hits" }
        }
    },
)

fun main() {
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        try {
            test()
            passed++
            println("ok   $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace(System.out)
        }
    }
    scratch.deleteRecursively()
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
