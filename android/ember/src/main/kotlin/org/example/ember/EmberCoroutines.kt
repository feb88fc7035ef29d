// Idiomatic Kotlin over the generated bindings (ember.kt): suspend functions for the long calls,
// lambdas for progress. EmberIndex is AutoCloseable already, so `use { }` closes it.
package org.example.ember

import kotlin.concurrent.thread
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext

/** A [ProgressListener] from a lambda: `done` of `total` passages embedded. */
fun progressListener(onProgress: (done: Long, total: Long) -> Unit): ProgressListener =
    object : ProgressListener {
        override fun onProgress(done: ULong, total: ULong) = onProgress(done.toLong(), total.toLong())
    }

/**
 * Build an index on a background thread. Cancelling the coroutine cancels the build through a
 * [CancellationToken]; until the core can stop a build midway, the build finishes in the
 * background and its index is closed.
 */
suspend fun EmberIndex.Companion.createAsync(
    dir: String,
    embedder: Embedder,
    passages: List<Passage>,
    config: IndexConfig? = null,
    onProgress: ((done: Long, total: Long) -> Unit)? = null,
): EmberIndex {
    val token = CancellationToken()
    return suspendCancellableCoroutine { cont ->
        cont.invokeOnCancellation { token.cancel() }
        thread(name = "ember-build", isDaemon = true) {
            try {
                val index = create(dir, embedder, passages, config, onProgress?.let(::progressListener), token)
                if (cont.isActive) cont.resumeWith(Result.success(index)) else index.close()
            } catch (e: Throwable) {
                if (cont.isActive) cont.resumeWithException(e)
            } finally {
                token.close()
            }
        }
    }
}

/** Open an index off the calling thread (it validates every checksum). */
suspend fun EmberIndex.Companion.openAsync(dir: String, embedder: Embedder? = null): EmberIndex =
    withContext(Dispatchers.IO) { open(dir, embedder) }

/** Search by text off the calling thread (embedding the query runs the model). */
suspend fun EmberIndex.searchAsync(query: String, options: SearchOptions? = null): SearchReport =
    withContext(Dispatchers.Default) { search(query, options) }

/** Search with a query vector off the calling thread. */
suspend fun EmberIndex.searchVectorAsync(vector: List<Float>, options: SearchOptions? = null): SearchReport =
    withContext(Dispatchers.Default) { searchVector(vector, options) }
