// Idiomatic Kotlin over the generated bindings (ember.kt): suspend functions for the long calls,
// lambdas for progress. EmberIndex is AutoCloseable already, so `use { }` closes it.
package org.example.ember

import kotlin.concurrent.thread
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext

/** A [ProgressListener] from a lambda: `done` of `total` units (passages, or compaction phases). */
fun progressListener(onProgress: (done: Long, total: Long) -> Unit): ProgressListener =
    object : ProgressListener {
        override fun onProgress(done: ULong, total: ULong) = onProgress(done.toLong(), total.toLong())
    }

/**
 * Run a long Ember call on its own thread. Cancelling the coroutine cancels the call through a
 * [CancellationToken]: Ember stops at its next step and leaves the index as it was. A result
 * that arrives after cancellation is handed to [discard] (an index built anyway is closed).
 */
private suspend fun <T> cancellable(
    name: String,
    discard: (T) -> Unit = {},
    call: (CancellationToken) -> T,
): T {
    val token = CancellationToken()
    return suspendCancellableCoroutine { cont ->
        cont.invokeOnCancellation { token.cancel() }
        thread(name = name, isDaemon = true) {
            try {
                val result = call(token)
                if (cont.isActive) cont.resumeWith(Result.success(result)) else discard(result)
            } catch (e: Throwable) {
                if (cont.isActive) cont.resumeWithException(e)
            } finally {
                token.close()
            }
        }
    }
}

/** Build an index on a background thread; cancelling the coroutine cancels the build. */
suspend fun EmberIndex.Companion.createAsync(
    dir: String,
    embedder: Embedder,
    passages: List<Passage>,
    config: IndexConfig? = null,
    onProgress: ((done: Long, total: Long) -> Unit)? = null,
): EmberIndex = cancellable("ember-create", EmberIndex::close) { token ->
    create(dir, embedder, passages, config, onProgress?.let(::progressListener), token)
}

/** Open an index off the calling thread (it validates every checksum and replays the log). */
suspend fun EmberIndex.Companion.openAsync(
    dir: String,
    embedder: Embedder? = null,
    options: OpenOptions? = null,
): EmberIndex = withContext(Dispatchers.IO) { open(dir, embedder, options) }

/** Embed and add passages off the calling thread; cancelling the coroutine cancels the add. */
suspend fun EmberIndex.addAsync(
    passages: List<Passage>,
    onProgress: ((done: Long, total: Long) -> Unit)? = null,
): Unit = cancellable("ember-add") { token -> add(passages, onProgress?.let(::progressListener), token) }

/** Replace passages off the calling thread; cancelling the coroutine cancels the update. */
suspend fun EmberIndex.updateAsync(
    passages: List<Passage>,
    onProgress: ((done: Long, total: Long) -> Unit)? = null,
): Unit = cancellable("ember-update") { token -> update(passages, onProgress?.let(::progressListener), token) }

/** Commit the log off the calling thread (it writes a new segment). */
suspend fun EmberIndex.commitAsync(): Unit = withContext(Dispatchers.IO) { commit() }

/** Compact off the calling thread; cancelling the coroutine cancels the compaction. */
suspend fun EmberIndex.compactAsync(): Unit = cancellable("ember-compact") { token -> compact(null, token) }

/** Build the stored-vector sidecar off the calling thread; cancelling keeps the rows done so far. */
suspend fun EmberIndex.materializeVectorsAsync(
    precision: Precision = Precision.F16,
    onProgress: ((done: Long, total: Long) -> Unit)? = null,
): Unit = cancellable("ember-vectors") { token ->
    materializeVectors(precision, onProgress?.let(::progressListener), token)
}

/** Search by text off the calling thread (embedding the query runs the model). */
suspend fun EmberIndex.searchAsync(query: String, options: SearchOptions? = null): SearchReport =
    withContext(Dispatchers.Default) { search(query, options) }

/** Search with a query vector off the calling thread. */
suspend fun EmberIndex.searchVectorAsync(vector: List<Float>, options: SearchOptions? = null): SearchReport =
    withContext(Dispatchers.Default) { searchVector(vector, options) }
