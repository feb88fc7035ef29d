// Smoke test of the Kotlin surface on the JVM: the generated bindings (android/.../ember.kt), the
// coroutine layer (EmberCoroutines.kt) and the README's Android snippet (ReadmeSnippet.kt, cut from
// README.md by scripts/test-bindings.sh). Run by scripts/test-bindings.sh; prints "N passed, N failed".
import java.io.File
import java.nio.file.Files
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

/** A model-free embedder written in Kotlin: hashed bag of words, as an accelerator would plug in. */
class WordHashEmbedder(private val dim: Int = 64, private val id: String = "kotlin-words-64") : Embedder {
    var calls = 0
    override fun embed(texts: List<String>): List<List<Float>> {
        calls++
        return texts.map { text ->
            val v = FloatArray(dim)
            text.lowercase().split(Regex("\\W+")).filter { it.isNotEmpty() }.forEach { w ->
                v[Math.floorMod(w.hashCode(), dim)] += 1f
            }
            v.toList()
        }
    }
    override fun dim(): UInt = dim.toUInt()
    override fun modelId(): String = id
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
            val stats = index.stats()
            check(stats.passages == 6uL && stats.dim == 384uL) { "stats $stats" }
            check(index.ids().sorted() == notes.map { it.id }.sorted()) { "ids ${index.ids()}" }
            check(index.passageCount() == 6uL && index.modelId() == embedder.modelId()) { "count/model" }
        }
        EmberIndex.open(dir, embedder).use { index ->
            check(index.search("cooking spaghetti").hits[0].id == "pasta") { "reopened search" }
        }
        // Kotlin's close() (AutoCloseable) frees the index: later calls fail in the bindings.
        val index = EmberIndex.open(dir, null)
        index.close()
        expectThrows<IllegalStateException> { index.stats() }
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
        expectThrows<EmberException.InvalidArgument> {
            EmberIndex.create(File(scratch, "dup").path, words, notes + notes[0])
        }
    },
    "a Kotlin Embedder builds and searches" to {
        val words = WordHashEmbedder()
        EmberIndex.create(File(scratch, "foreign").path, words, notes).use { index ->
            check(words.calls > 0) { "embedder not called" }
            val hits = index.search("feed cat", SearchOptions(Mode.RECOMPUTE, k = 2u)).hits
            check(hits[0].id == "cat") { "hits $hits" }
        }
    },
    "errors thrown by a Kotlin Embedder come back as thrown" to {
        val failing = object : Embedder {
            override fun embed(texts: List<String>): List<List<Float>> =
                throw EmberException.InvalidArgument("accelerator is busy")
            override fun dim(): UInt = 8u
            override fun modelId(): String = "failing"
        }
        val e = expectThrows<EmberException.InvalidArgument> { EmberIndex.create(File(scratch, "f1").path, failing, notes) }
        check(e.detail == "accelerator is busy") { "detail ${e.detail}" }
        val crashing = object : Embedder {
            override fun embed(texts: List<String>): List<List<Float>> = throw IllegalStateException("boom")
            override fun dim(): UInt = 8u
            override fun modelId(): String = "crashing"
        }
        expectThrows<EmberException.Internal> { EmberIndex.create(File(scratch, "f2").path, crashing, notes) }
        val short = object : Embedder {
            override fun embed(texts: List<String>): List<List<Float>> = texts.map { listOf(1f, 2f) }
            override fun dim(): UInt = 8u
            override fun modelId(): String = "short"
        }
        expectThrows<EmberException.DimensionMismatch> { EmberIndex.create(File(scratch, "f3").path, short, notes) }
    },
    "a cancelled token stops a build before it writes" to {
        val token = CancellationToken()
        token.cancel()
        val dir = File(scratch, "cancelled")
        expectThrows<EmberException.Cancelled> { EmberIndex.create(dir.path, WordHashEmbedder(), notes, null, null, token) }
        check(!dir.exists()) { "cancelled build wrote $dir" }
    },
    "coroutines and the README snippet" to {
        runBlocking {
            val index = EmberIndex.createAsync(File(scratch, "async").path, WordHashEmbedder(), notes)
            index.use { check(it.searchAsync("tax return").hits[0].id == "tax") { "async search" } }
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
