// async/await sugar over the generated bindings (ember.swift): the long calls run off the caller's
// task, and cancelling the task cancels the call through a CancellationToken (Ember stops at its next
// step and leaves the index as it was).
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

/// Run `work` on a detached task with a fresh token that the calling task's cancellation cancels.
private func cancellable<T>(
    _ priority: TaskPriority, _ work: @escaping @Sendable (CancellationToken) throws -> T
) async throws -> T {
    let token = CancellationToken()
    return try await withTaskCancellationHandler {
        try await detached(priority) { try work(token) }
    } onCancel: {
        token.cancel()
    }
}

extension EmberIndex {
    /// Build an index of `passages` in `dir` on a background task and open it. Cancelling the
    /// calling task cancels the build before anything is written.
    public static func create(
        dir: String, embedder: Embedder, passages: [Passage], config: IndexConfig? = nil,
        onProgress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) async throws -> EmberIndex {
        let listener = onProgress.map(ClosureProgress.init)
        return try await cancellable(.utility) { token in
            try EmberIndex.create(
                dir: dir, embedder: embedder, passages: passages, config: config, listener: listener,
                cancel: token)
        }
    }

    /// Open the index in `dir` on a background task (opening validates every checksum and replays
    /// the log).
    public static func open(dir: String, embedder: Embedder? = nil, options: OpenOptions? = nil) async throws
        -> EmberIndex
    {
        try await detached(.userInitiated) { try EmberIndex.open(dir: dir, embedder: embedder, options: options) }
    }

    /// Embed and add passages on a background task; cancelling the calling task cancels the add.
    public func add(passages: [Passage], onProgress: (@Sendable (UInt64, UInt64) -> Void)? = nil) async throws {
        let listener = onProgress.map(ClosureProgress.init)
        try await cancellable(.utility) { token in
            try self.add(passages: passages, listener: listener, cancel: token)
        }
    }

    /// Replace passages on a background task; cancelling the calling task cancels the update.
    public func update(passages: [Passage], onProgress: (@Sendable (UInt64, UInt64) -> Void)? = nil) async throws {
        let listener = onProgress.map(ClosureProgress.init)
        try await cancellable(.utility) { token in
            try self.update(passages: passages, listener: listener, cancel: token)
        }
    }

    /// Fold the log into a new segment on a background task.
    public func commit() async throws {
        try await detached(.utility) { try self.commit() }
    }

    /// Compact on a background task; cancelling the calling task cancels the compaction.
    public func compact() async throws {
        try await cancellable(.utility) { token in try self.compact(listener: nil, cancel: token) }
    }

    /// Build the stored-vector sidecar on a background task; cancelling keeps the rows done so far.
    public func materializeVectors(
        precision: Precision, onProgress: (@Sendable (UInt64, UInt64) -> Void)? = nil
    ) async throws {
        let listener = onProgress.map(ClosureProgress.init)
        try await cancellable(.background) { token in
            try self.materializeVectors(precision: precision, listener: listener, cancel: token)
        }
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
