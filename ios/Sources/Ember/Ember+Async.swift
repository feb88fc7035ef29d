// async/await sugar over the generated bindings (ember.swift): the long calls run off the caller's
// task, and cancelling the task cancels a build through a CancellationToken.
import Foundation

private final class ClosureProgress: ProgressListener, @unchecked Sendable {
    let body: @Sendable (UInt64, UInt64) -> Void
    init(_ body: @escaping @Sendable (UInt64, UInt64) -> Void) { self.body = body }
    func onProgress(done: UInt64, total: UInt64) { body(done, total) }
}

/// Run synchronous Ember work on a detached task. `work` is a synchronous closure, so the calls in it
/// resolve to the generated blocking functions, not to the async overloads below.
private func detached<T>(_ priority: TaskPriority, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: priority) { UncheckedBox(try work()) }.value.value
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension EmberIndex {
    /// Build an index of `passages` in `dir` on a background task and open it. Cancelling the
    /// calling task cancels the build (honoured when the build starts until the core can stop one
    /// midway).
    public static func create(
        dir: String, embedder: Embedder, passages: [Passage], config: IndexConfig? = nil,
        onProgress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) async throws -> EmberIndex {
        let token = CancellationToken()
        let listener = onProgress.map(ClosureProgress.init)
        return try await withTaskCancellationHandler {
            try await detached(.utility) {
                try EmberIndex.create(
                    dir: dir, embedder: embedder, passages: passages, config: config, listener: listener,
                    cancel: token)
            }
        } onCancel: {
            token.cancel()
        }
    }

    /// Open the index in `dir` on a background task (opening validates every checksum).
    public static func open(dir: String, embedder: Embedder? = nil) async throws -> EmberIndex {
        try await detached(.userInitiated) { try EmberIndex.open(dir: dir, embedder: embedder) }
    }

    /// Search by text on a background task (embedding the query runs the model).
    public func search(query: String, options: SearchOptions? = nil) async throws -> SearchReport {
        try await detached(.userInitiated) { try self.search(query: query, options: options) }
    }

    /// Search with a query vector on a background task.
    public func searchVector(vector: [Float], options: SearchOptions? = nil) async throws -> SearchReport {
        try await detached(.userInitiated) { try self.searchVector(vector: vector, options: options) }
    }
}
