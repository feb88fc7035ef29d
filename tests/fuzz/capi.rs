//! Target `capi_sequence`: a sequence of C API calls decoded from the input, made through the C
//! ABI exactly as a C program makes them (`ember_ffi::capi`), on two index directories with a C
//! hash embedder (and a failing and a NaN-returning one). Calls get valid, NULL, stale (closed,
//! freed), foreign and garbage handles, non-UTF-8 strings, bad lengths, bad enum values and
//! cancellation. It must hold that:
//! - nothing panics or aborts, and every result is a known `EmberResult`; `INTERNAL` only when the
//!   embedder callback failed (a panic inside Ember would surface as `INTERNAL`);
//! - a call given a NULL required pointer fails, and a failed call leaves its out-handle NULL;
//! - every handle's view of the index matches a model of it: a write that succeeded changed the
//!   live ids as documented, one that failed (cancelled, duplicate, unknown, invalid...) changed
//!   nothing; `stats` counts, `get` and `delete`'s count agree with the model, and search hits are
//!   live, finite and best first;
//! - two read-write handles never hold one directory, and a closed one releases it.
//!
//! Input: a flags byte, then operations (an opcode byte and its arguments, read with [`Input`];
//! short input reads as zeros). [`seeds`] builds the committed seeds.

use std::collections::BTreeSet;
use std::ffi::{c_char, c_void, CStr};
use std::path::PathBuf;

use ember_ffi::capi::*;

use super::{scratch_dir, Input};

const DIM: usize = 16;
const MAX_OPS: usize = 48;
const MODEL: &CStr = c"fuzz-hash-16";

/// What the callback embedder does, chosen by the `user_data` it is given.
const NORMAL: u8 = 0;
const FAILING: u8 = 1;
const NAN: u8 = 2;
static MODES: [u8; 3] = [NORMAL, FAILING, NAN];

/// Bag of hashed words into `DIM` floats (never all zero); or a failure, or NaNs.
unsafe extern "C" fn hash_embed(
    user_data: *mut c_void,
    texts: *const *const c_char,
    texts_len: usize,
    _kind: ember_ffi::capi::EmberTextKind,
    out: *mut f32,
    out_len: usize,
) -> i32 {
    // SAFETY: `user_data` is a pointer into `MODES`, given by this file.
    let mode = unsafe { *user_data.cast::<u8>() };
    if mode == FAILING {
        return 3;
    }
    assert_eq!(out_len, texts_len * DIM, "Ember passed a wrong output length");
    // SAFETY: Ember's callback contract: `texts_len` C strings and `out_len` writable floats.
    let (texts, out) = unsafe {
        (std::slice::from_raw_parts(texts, texts_len), std::slice::from_raw_parts_mut(out, out_len))
    };
    for (t, v) in texts.iter().zip(out.chunks_mut(DIM)) {
        // SAFETY: NUL-terminated, per the contract.
        let bytes = unsafe { CStr::from_ptr(*t) }.to_bytes();
        v.fill(0.0);
        v[0] = 0.05;
        for w in bytes.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()) {
            let h = w
                .iter()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            v[(h % DIM as u64) as usize] += 1.0;
        }
        if mode == NAN {
            v[1] = f32::NAN;
        }
    }
    0
}

/// State of a progress callback: cancel `token` after `countdown` reports.
struct Progress {
    token: *const CCancellationToken,
    countdown: u8,
}

unsafe extern "C" fn on_progress(data: *mut c_void, done: usize, total: usize) {
    assert!(done <= total || total == 0, "progress {done} of {total}");
    // SAFETY: `data` points to a live `Progress` on the caller's stack for the whole call.
    let p = unsafe { &mut *data.cast::<Progress>() };
    if p.countdown == 0 {
        let _ = ember_cancellation_token_cancel(p.token);
    } else {
        p.countdown -= 1;
    }
}

/// One index handle slot and what its handle should see.
struct Slot {
    /// Kept after close, to call again (stale handle).
    handle: *mut CIndex,
    live: bool,
    dir: usize,
    read_only: bool,
    /// Whether the handle has an embedder (writes and text searches need one).
    embedder: bool,
    /// The live ids this handle should see.
    view: BTreeSet<String>,
}

/// NUL-terminated byte strings whose buffers stay put while `EmberPassage`s point into them.
#[derive(Default)]
struct Arena {
    strings: Vec<Box<[u8]>>,
}

impl Arena {
    fn add(&mut self, mut bytes: Vec<u8>) -> *const c_char {
        bytes.push(0);
        let b: Box<[u8]> = bytes.into_boxed_slice();
        let p = b.as_ptr().cast();
        self.strings.push(b);
        p
    }
}

/// A decoded string: what C passes, and what Ember reads (None: not UTF-8).
fn string(input: &mut Input, vocab: &[&str]) -> (Vec<u8>, Option<String>) {
    let sel = input.u8();
    let bytes = if usize::from(sel) < vocab.len() * 24 {
        vocab[usize::from(sel) % vocab.len()].as_bytes().to_vec()
    } else {
        let n = usize::from(input.u8() % 24);
        input.bytes(n).to_vec()
    };
    // C sees the string up to its first NUL.
    let cut: Vec<u8> = bytes.iter().copied().take_while(|&b| b != 0).collect();
    let text = String::from_utf8(cut.clone()).ok();
    (cut, text)
}

const IDS: &[&str] = &["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
const WORDS: &[&str] = &[
    "battery torch camping",
    "disk space build",
    "pasta salted water",
    "train coast morning",
    "cat water bowl",
    "tax return april",
    "",
    "ferry island noon",
];
const KEYS: &[&str] = &["folder", "year", "pinned", "w"];
const FILTERS: &[&str] =
    &["folder = \"a\"", "year >= 3", "pinned = true or w < 0.5", "not folder in ('a', 'b')", "("];

/// Passages decoded from the input, with what Ember should make of them.
struct Passages {
    arena: Arena,
    entries: Vec<Vec<EmberMetadataEntry>>,
    passages: Vec<EmberPassage>,
    /// Ids as Ember reads them, if every field is acceptable (else the call must fail).
    valid_ids: Option<Vec<String>>,
    /// Every id that is UTF-8 (an error about one passage may come before another is checked).
    some_ids: Vec<String>,
}

fn passages(input: &mut Input) -> Passages {
    let n = usize::from(input.u8() % 6);
    let mut arena = Arena::default();
    let mut entries = Vec::with_capacity(n);
    let mut fields = Vec::with_capacity(n);
    let mut valid = true;
    let mut ids = Vec::new();
    for _ in 0..n {
        let (id, id_text) = string(input, IDS);
        let (text, text_ok) = string(input, WORDS);
        valid &= text_ok.is_some();
        match id_text {
            Some(s) => ids.push(s),
            None => valid = false,
        }
        let mut meta = Vec::new();
        let mut keys = BTreeSet::new();
        for _ in 0..input.u8() % 4 {
            let (key, key_text) = string(input, KEYS);
            valid &= key_text.as_ref().is_some_and(|k| !k.is_empty() && keys.insert(k.clone()));
            let kind = u32::from(input.u8() % 5);
            let raw = input.u32();
            let mut value =
                EmberValue { kind, int_value: i64::from(raw), float_value: 0.0, str_value: std::ptr::null() };
            match kind {
                2 => {
                    value.float_value = f64::from(f32::from_bits(raw));
                    valid &= !value.float_value.is_nan();
                }
                3 => {
                    let (s, s_text) = string(input, KEYS);
                    valid &= s_text.is_some();
                    value.str_value = arena.add(s);
                }
                4 => valid = false, // unknown kind
                _ => {}
            }
            meta.push(EmberMetadataEntry { key: arena.add(key), value });
        }
        let id = arena.add(id);
        let text = arena.add(text);
        fields.push((id, text));
        entries.push(meta);
    }
    let passages = fields
        .iter()
        .zip(&entries)
        .map(|(&(id, text), meta)| EmberPassage {
            id,
            text,
            metadata: if meta.is_empty() { std::ptr::null() } else { meta.as_ptr() },
            metadata_len: meta.len(),
        })
        .collect();
    let unique = ids.iter().collect::<BTreeSet<_>>().len() == ids.len();
    Passages { arena, entries, passages, some_ids: ids.clone(), valid_ids: (valid && unique).then_some(ids) }
}

/// Where the run's two index directories go: in memory (`/dev/shm`) when the machine has it,
/// because every create, commit and `Sync` write fsyncs, which on a VM disk holds the rate near 13
/// runs a second against about 1,000 in memory; else under the scratch directory. Removed at the
/// end of each run.
fn root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { scratch_dir().to_path_buf() };
        base.join(format!("ember-fuzz-capi-{}", std::process::id()))
    })
    .clone()
}

/// The run's state.
struct Run {
    dirs: [PathBuf; 2],
    dir_c: [Vec<u8>; 2],
    /// Live ids on disk per directory (every acknowledged write persists: no crash here).
    disk: [BTreeSet<String>; 2],
    slots: [Slot; 3],
    embedders: Vec<*mut CEmbedder>,
    freed_embedder: *mut CEmbedder,
    results: Vec<*mut CSearchResults>,
    stored: Vec<*mut CStoredPassage>,
    token: *mut CCancellationToken,
}

fn last_error() -> String {
    // SAFETY: a live thread-local C string.
    unsafe { CStr::from_ptr(ember_last_error_message()) }.to_string_lossy().into_owned()
}

/// A result must be a known code, and `INTERNAL` only from the failing embedder. With
/// `EMBER_CAPI_TRACE` set, every call and its result are printed (to see what a seed exercises).
fn checked(code: EmberResult, what: &str) -> EmberResult {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *TRACE.get_or_init(|| std::env::var_os("EMBER_CAPI_TRACE").is_some()) {
        eprintln!(
            "capi: {what}: {code:?}{}",
            if code == EmberResult::Ok { String::new() } else { format!(" ({})", last_error()) }
        );
    }
    let n = code as u32;
    assert!(n <= EmberResult::TextChanged as u32, "{what}: unknown result {n}");
    if code == EmberResult::Internal {
        let msg = last_error();
        assert!(msg.contains("embedder callback returned"), "{what}: INTERNAL: {msg}");
    }
    code
}

impl Run {
    fn new() -> Run {
        let root = root();
        let dirs = [root.join("a"), root.join("b")];
        for d in &dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        let dir_c = dirs.clone().map(|d| d.to_string_lossy().into_owned().into_bytes());
        let mut embedders = Vec::new();
        for (model, mode) in
            [(MODEL, &MODES[0]), (c"other-16", &MODES[0]), (MODEL, &MODES[1]), (MODEL, &MODES[2])]
        {
            let mut e = std::ptr::null_mut();
            let user_data = std::ptr::from_ref(mode).cast_mut().cast();
            // SAFETY: valid string and out-pointer; the callback is thread-safe and `user_data` static.
            let code = unsafe {
                ember_embedder_new_callback(
                    model.as_ptr(),
                    DIM,
                    std::ptr::null(),
                    std::ptr::null(),
                    Some(hash_embed),
                    user_data,
                    &mut e,
                )
            };
            assert_eq!(code, EmberResult::Ok, "creating an embedder: {}", last_error());
            embedders.push(e);
        }
        let mut freed = std::ptr::null_mut();
        let user_data = std::ptr::from_ref(&MODES[0]).cast_mut().cast();
        // SAFETY: as above.
        let code = unsafe {
            ember_embedder_new_callback(
                MODEL.as_ptr(),
                DIM,
                std::ptr::null(),
                std::ptr::null(),
                Some(hash_embed),
                user_data,
                &mut freed,
            )
        };
        assert_eq!(code, EmberResult::Ok);
        ember_embedder_free(freed);
        let slot = || Slot {
            handle: std::ptr::null_mut(),
            live: false,
            dir: 0,
            read_only: false,
            embedder: false,
            view: BTreeSet::new(),
        };
        Run {
            dirs,
            dir_c,
            disk: [BTreeSet::new(), BTreeSet::new()],
            slots: [slot(), slot(), slot()],
            embedders,
            freed_embedder: freed,
            results: Vec::new(),
            stored: Vec::new(),
            token: std::ptr::null_mut(),
        }
    }

    /// An embedder argument: the normal one, another model, failing, NaN, NULL or freed.
    fn embedder(&self, sel: u8) -> (*const CEmbedder, bool) {
        match sel % 8 {
            0..=3 => (self.embedders[0], true),
            4 => (self.embedders[1], true),
            5 => (self.embedders[2], true),
            6 => (self.embedders[3], true),
            _ if sel & 0x80 != 0 => (self.freed_embedder, false),
            _ => (std::ptr::null(), false),
        }
    }

    /// A live read-write handle on `dir` other than `slot`.
    fn writer_on(&self, dir: usize, except: usize) -> bool {
        self.slots.iter().enumerate().any(|(i, s)| i != except && s.live && !s.read_only && s.dir == dir)
    }

    /// Close slot `i` if live (first, so that a create or open in it does not leak a handle).
    fn close(&mut self, i: usize) {
        let s = &mut self.slots[i];
        ember_index_close(s.handle);
        s.live = false;
    }

    /// A task from the input: NULL, or progress and/or a token (which may be cancelled, now or after
    /// some progress reports). The `Progress` must outlive the call.
    fn task(&mut self, input: &mut Input, progress: &mut Progress) -> (Option<EmberTask>, bool) {
        let t = input.u8();
        if t & 1 == 0 {
            return (None, false);
        }
        let mut cancelled = false;
        let mut task =
            EmberTask { progress: None, progress_data: std::ptr::null_mut(), cancel: std::ptr::null() };
        if t & 2 != 0 {
            if self.token.is_null() {
                // SAFETY: a valid out-pointer.
                let code = unsafe { ember_cancellation_token_new(&mut self.token) };
                assert_eq!(code, EmberResult::Ok);
            }
            task.cancel = self.token;
            if t & 4 != 0 {
                let _ = ember_cancellation_token_cancel(self.token);
                cancelled = true;
            }
        }
        if t & 8 != 0 {
            progress.token = self.token;
            progress.countdown = t >> 4;
            task.progress = Some(on_progress);
            task.progress_data = std::ptr::from_mut(progress).cast();
        }
        (Some(task), cancelled)
    }

    /// After a call given `task`: its token (or the one its progress callback cancels) may now be
    /// cancelled for good, so the next task gets a fresh one.
    fn settle(&mut self, task: &Option<EmberTask>) {
        if task.is_some() {
            self.renew_token();
        }
    }

    /// Free the token; the next task that wants one makes a new one.
    fn renew_token(&mut self) {
        ember_cancellation_token_free(self.token);
        self.token = std::ptr::null_mut();
    }

    /// Every handle's counts agree with its view; each of `ids` is live exactly when the view says.
    fn verify(&mut self, i: usize, ids: &[String], what: &str) {
        let s = &self.slots[i];
        if !s.live {
            return;
        }
        let mut stats = EmberIndexStats::default();
        // SAFETY: a valid out-pointer.
        let code = checked(unsafe { ember_index_stats(s.handle, &mut stats) }, "stats");
        assert_eq!(code, EmberResult::Ok, "{what}: stats of a live handle: {}", last_error());
        assert_eq!(stats.passages, s.view.len() as u64, "{what}: passages, model {:?}", s.view);
        for id in ids {
            let c = std::ffi::CString::new(id.as_str()).unwrap_or_default();
            let mut p = std::ptr::null_mut();
            // SAFETY: a valid string and out-pointer.
            let code = checked(unsafe { ember_index_get(s.handle, c.as_ptr(), &mut p) }, "get");
            assert_eq!(code, EmberResult::Ok, "{what}: get {id:?}: {}", last_error());
            assert_eq!(!p.is_null(), s.view.contains(id), "{what}: get {id:?}, model {:?}", s.view);
            ember_stored_passage_free(p);
        }
    }

    /// After a write on slot `i` that returned `code`: apply it to the model if it succeeded.
    fn after_write(
        &mut self,
        i: usize,
        code: EmberResult,
        change: impl FnOnce(&mut BTreeSet<String>),
        ids: &[String],
        what: &str,
    ) {
        if code == EmberResult::Ok {
            let s = &mut self.slots[i];
            change(&mut s.view);
            self.disk[s.dir] = s.view.clone();
        }
        // The directories are writable: only a read-only handle refuses a write as READ_ONLY.
        if code == EmberResult::ReadOnly {
            assert!(self.slots[i].read_only, "{what}: READ_ONLY from a read-write handle");
        }
        self.verify(i, ids, what);
    }

    fn op(&mut self, input: &mut Input, sync: bool) {
        let opcode = input.u8();
        let i = usize::from(input.u8() % 3);
        let nulls = input.u8();
        // Most operations use valid pointers; a set top bit makes the low bits a NULL mask.
        let null = |bit: u8| nulls & 0x80 != 0 && nulls & (1 << bit) != 0;
        let h = self.slots[i].handle;
        let handle: *const CIndex = if null(0) { std::ptr::null() } else { h };
        let usable = self.slots[i].live && !null(0);
        match opcode % 19 {
            // create
            0 => {
                let dir = usize::from(input.u8() % 2);
                let (emb, emb_ok) = self.embedder(input.u8());
                let mut ps = passages(input);
                let mut progress = Progress { token: std::ptr::null(), countdown: 0 };
                let (task, cancelled) = self.task(input, &mut progress);
                let vectors = u32::from(input.u8() % 4);
                let options = EmberIndexOptions {
                    vectors,
                    embed_chunk: u32::from(input.u8() % 3),
                    max_tokens: 0,
                    keywords: 0,
                    // Text kept: the model below checks `get` returns every live passage's text,
                    // which an index without text cannot without a source (tests/text_source.rs).
                    text: 0,
                };
                let opts_ptr: *const EmberIndexOptions =
                    if input.u8() & 1 == 0 { std::ptr::null() } else { &options };
                self.close(i);
                let dir_c = self.dir_c[dir].clone();
                let mut arena = Arena::default();
                let dir_ptr = if null(1) { std::ptr::null() } else { arena.add(dir_c) };
                let ps_ptr = if null(2) { std::ptr::null() } else { ps.passages.as_ptr() };
                let mut out = std::ptr::without_provenance_mut(0x10);
                let out_ptr: *mut *mut CIndex = if null(3) { std::ptr::null_mut() } else { &mut out };
                let task_ptr = task.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
                // SAFETY: every pointer is NULL or valid for what the function reads and writes.
                let code = checked(
                    unsafe {
                        ember_index_create(
                            dir_ptr,
                            emb,
                            ps_ptr,
                            ps.passages.len(),
                            opts_ptr,
                            task_ptr,
                            out_ptr,
                        )
                    },
                    "create",
                );
                let required_null = null(1) || null(3) || (null(2) && !ps.passages.is_empty());
                if code == EmberResult::Ok {
                    assert!(!required_null && emb_ok && !cancelled, "create succeeded with bad arguments");
                    let ids =
                        ps.valid_ids.take().unwrap_or_else(|| panic!("create accepted invalid passages"));
                    assert!(!self.writer_on(dir, i), "create took a directory another handle writes");
                    let view: BTreeSet<String> = ids.into_iter().collect();
                    self.disk[dir] = view.clone();
                    self.slots[i] =
                        Slot { handle: out, live: true, dir, read_only: false, embedder: true, view };
                    self.verify(i, &[], "create");
                } else {
                    if !null(3) {
                        assert!(out.is_null(), "create failed but set its out-handle");
                    }
                    if code == EmberResult::Locked {
                        assert!(self.writer_on(dir, i), "create: LOCKED with no writer on the directory");
                    }
                }
                self.settle(&task);
                drop(arena);
            }
            // open
            1 => {
                let dir = usize::from(input.u8() % 2);
                let (emb, _) = self.embedder(input.u8());
                let read_only = input.u8();
                let durability = if sync { 0 } else { u32::from(input.u8() % 3) };
                let options = EmberOpenOptions {
                    read_only,
                    durability,
                    cache_bytes: 1 << 16,
                    auto_commit_bytes: 1 << 12,
                    energy_big_j_per_cpu_s: 1.0,
                    energy_little_j_per_cpu_s: 0.25,
                    energy_big_share: 1.0,
                    battery_query_budget_mj: f64::INFINITY,
                    threads_on_battery: 1,
                    threads_charging: 0,
                };
                let opts_ptr: *const EmberOpenOptions =
                    if input.u8() & 1 == 0 { std::ptr::null() } else { &options };
                let read_only = !opts_ptr.is_null() && read_only != 0;
                self.close(i);
                let mut arena = Arena::default();
                let dir_ptr = if null(1) { std::ptr::null() } else { arena.add(self.dir_c[dir].clone()) };
                let mut out = std::ptr::without_provenance_mut(0x10);
                let out_ptr: *mut *mut CIndex = if null(3) { std::ptr::null_mut() } else { &mut out };
                // SAFETY: every pointer is NULL or valid.
                let code = checked(unsafe { ember_index_open(dir_ptr, emb, opts_ptr, out_ptr) }, "open");
                if code == EmberResult::Ok {
                    assert!(!null(1) && !null(3), "open succeeded with NULL arguments");
                    assert!(read_only || !self.writer_on(dir, i), "two read-write handles on one directory");
                    let view = self.disk[dir].clone();
                    let embedder = !emb.is_null();
                    self.slots[i] = Slot { handle: out, live: true, dir, read_only, embedder, view };
                    self.verify(i, &[], "open");
                } else {
                    if !null(3) {
                        assert!(out.is_null(), "open failed but set its out-handle");
                    }
                    if code == EmberResult::Locked {
                        assert!(
                            !read_only && self.writer_on(dir, i),
                            "open: LOCKED with no writer on the directory"
                        );
                    }
                }
            }
            // add, update
            op @ (2 | 3) => {
                let replace = op == 3;
                let mut ps = passages(input);
                let mut progress = Progress { token: std::ptr::null(), countdown: 0 };
                let (task, cancelled) = self.task(input, &mut progress);
                let ps_ptr = if null(1) { std::ptr::null() } else { ps.passages.as_ptr() };
                let task_ptr = task.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
                // SAFETY: pointers NULL or valid; the passages' strings live in `ps.arena`.
                let code = unsafe {
                    if replace {
                        ember_index_update(handle, ps_ptr, ps.passages.len(), task_ptr)
                    } else {
                        ember_index_add(handle, ps_ptr, ps.passages.len(), task_ptr)
                    }
                };
                let code = checked(code, "add/update");
                let s = &self.slots[i];
                let ids = ps.valid_ids.take();
                let known: Vec<String> = ids.clone().unwrap_or_default();
                match code {
                    EmberResult::Ok => {
                        assert!(
                            usable && !s.read_only && s.embedder,
                            "a write succeeded on an unusable handle"
                        );
                        assert!(!null(1) || ps.passages.is_empty(), "a write succeeded with NULL passages");
                        let ids = ids.unwrap_or_else(|| panic!("a write accepted invalid passages"));
                        assert!(!cancelled || ids.is_empty(), "a cancelled write succeeded");
                        for id in &ids {
                            assert_eq!(
                                s.view.contains(id),
                                replace,
                                "add of a present / update of a missing {id:?}"
                            );
                        }
                    }
                    EmberResult::DuplicateId => {
                        assert!(!replace && ps.some_ids.iter().any(|id| s.view.contains(id)))
                    }
                    EmberResult::UnknownId => {
                        assert!(replace && ps.some_ids.iter().any(|id| !s.view.contains(id)))
                    }
                    EmberResult::Closed => assert!(!s.live && !null(0), "CLOSED from a live handle"),
                    _ => {}
                }
                self.after_write(i, code, |v| v.extend(known.iter().cloned()), &known, "add/update");
                self.settle(&task);
                drop(ps.arena);
                drop(ps.entries);
            }
            // delete
            4 => {
                let mut arena = Arena::default();
                let mut ids = Vec::new();
                let mut ptrs = Vec::new();
                let mut valid = true;
                for _ in 0..input.u8() % 5 {
                    let (b, s) = string(input, IDS);
                    match s {
                        Some(s) => ids.push(s),
                        None => valid = false,
                    }
                    ptrs.push(arena.add(b));
                }
                let mut deleted = usize::MAX;
                let ids_ptr = if null(1) { std::ptr::null() } else { ptrs.as_ptr() };
                let out: *mut usize = if null(2) { std::ptr::null_mut() } else { &mut deleted };
                // SAFETY: pointers NULL or valid.
                let code = checked(unsafe { ember_index_delete(handle, ids_ptr, ptrs.len(), out) }, "delete");
                let s = &self.slots[i];
                if code == EmberResult::Ok {
                    assert!(
                        usable && !s.read_only && valid && !null(2),
                        "delete succeeded with bad arguments"
                    );
                    let present: BTreeSet<&String> = ids.iter().filter(|id| s.view.contains(*id)).collect();
                    assert_eq!(deleted, present.len(), "delete count, model {:?}", s.view);
                }
                self.after_write(
                    i,
                    code,
                    |v| {
                        ids.iter().for_each(|id| {
                            v.remove(id);
                        })
                    },
                    &ids,
                    "delete",
                );
            }
            // search
            5 => {
                let (q, _) = string(input, WORDS);
                let (f, _) = string(input, FILTERS);
                let mut arena = Arena::default();
                let query = if null(1) { std::ptr::null() } else { arena.add(q) };
                let options = EmberSearchOptions {
                    k: u32::from(input.u8() % 12),
                    mode: u32::from(input.u8() % 5),
                    beam: u32::from(input.u8()),
                    rerank: u32::from(input.u8() % 64),
                    filter: if input.u8() & 1 == 0 { std::ptr::null() } else { arena.add(f) },
                    // Dense only: the model of expected hits below knows no keyword index.
                    retrieval: 1,
                    fusion: std::ptr::null(),
                };
                let opts_ptr: *const EmberSearchOptions =
                    if input.u8() & 1 == 0 { std::ptr::null() } else { &options };
                let mut out = std::ptr::null_mut();
                let out_ptr: *mut *mut CSearchResults = if null(3) { std::ptr::null_mut() } else { &mut out };
                // SAFETY: pointers NULL or valid.
                let code = checked(unsafe { ember_index_search(handle, query, opts_ptr, out_ptr) }, "search");
                self.after_search(i, code, out, if opts_ptr.is_null() { 10 } else { options.k });
            }
            // search_vector
            6 => {
                let len = usize::from(input.u8() % 40);
                let mut v = [0f32; 40];
                for x in v.iter_mut().take(len) {
                    *x = f32::from(input.u8()) - 128.0;
                }
                if input.u8() & 1 == 1 {
                    v[0] = f32::INFINITY;
                }
                let mode = u32::from(input.u8() % 4);
                let options = EmberSearchOptions {
                    k: 4,
                    mode,
                    beam: 16,
                    rerank: 8,
                    filter: std::ptr::null(),
                    retrieval: 1,
                    fusion: std::ptr::null(),
                };
                let vec_ptr = if null(1) { std::ptr::null() } else { v.as_ptr() };
                let mut out = std::ptr::null_mut();
                // SAFETY: pointers NULL or valid for `len` floats.
                let code = checked(
                    unsafe { ember_index_search_vector(handle, vec_ptr, len, &options, &mut out) },
                    "search_vector",
                );
                if code == EmberResult::Ok {
                    assert_eq!(len, DIM, "a vector search of the wrong dimension succeeded");
                }
                self.after_search(i, code, out, 4);
            }
            7 => {
                let code = checked(ember_index_commit(handle), "commit");
                self.after_write(i, code, |_| {}, &[], "commit");
            }
            8 => {
                let mut progress = Progress { token: std::ptr::null(), countdown: 0 };
                // A cancelled no-op (nothing to compact) may still succeed: no claim on `cancelled`.
                let (task, _) = self.task(input, &mut progress);
                let task_ptr = task.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
                // SAFETY: pointers NULL or valid.
                let code = checked(unsafe { ember_index_compact(handle, task_ptr) }, "compact");
                self.after_write(i, code, |_| {}, &[], "compact");
                self.settle(&task);
            }
            9 => {
                ember_index_close(self.slots[i].handle);
                self.slots[i].live = false;
                let mut stats = EmberIndexStats::default();
                // SAFETY: a valid out-pointer.
                let code = checked(
                    unsafe { ember_index_stats(self.slots[i].handle, &mut stats) },
                    "stats after close",
                );
                assert!(
                    self.slots[i].handle.is_null() || code == EmberResult::Closed,
                    "a closed handle answered {code:?}"
                );
            }
            // get, then look at and free the passage (sometimes twice)
            10 => {
                let (b, id) = string(input, IDS);
                let mut arena = Arena::default();
                let id_ptr = if null(1) { std::ptr::null() } else { arena.add(b) };
                let mut out = std::ptr::null_mut();
                let out_ptr: *mut *mut CStoredPassage = if null(2) { std::ptr::null_mut() } else { &mut out };
                // SAFETY: pointers NULL or valid.
                let code = checked(unsafe { ember_index_get(handle, id_ptr, out_ptr) }, "get");
                if code == EmberResult::Ok {
                    let id = id.unwrap_or_else(|| panic!("get accepted a non-UTF-8 id"));
                    assert_eq!(!out.is_null(), self.slots[i].view.contains(&id), "get {id:?}");
                    if !out.is_null() {
                        let mut view = EmberPassage {
                            id: std::ptr::null(),
                            text: std::ptr::null(),
                            metadata: std::ptr::null(),
                            metadata_len: 0,
                        };
                        // SAFETY: a valid out-pointer; the strings live until the handle is freed.
                        unsafe {
                            assert_eq!(ember_stored_passage_view(out, &mut view), EmberResult::Ok);
                            assert_eq!(CStr::from_ptr(view.id).to_str().ok(), Some(id.as_str()));
                            // The header allows NULL with length 0, which `from_raw_parts` does not.
                            let meta = match view.metadata_len {
                                0 => &[],
                                n => std::slice::from_raw_parts(view.metadata, n),
                            };
                            assert!(meta.iter().all(|e| !CStr::from_ptr(e.key).to_bytes().is_empty()));
                        }
                        self.stored.push(out);
                    }
                }
                if input.u8() & 1 == 1 {
                    if let Some(p) = self.stored.pop() {
                        ember_stored_passage_free(p);
                        ember_stored_passage_free(p);
                        let mut view = std::mem::MaybeUninit::<EmberPassage>::uninit();
                        // SAFETY: a valid out-pointer.
                        let code = checked(
                            unsafe { ember_stored_passage_view(p, view.as_mut_ptr()) },
                            "view after free",
                        );
                        assert_eq!(code, EmberResult::InvalidArgument);
                    }
                }
            }
            11 => {
                let state = EmberDeviceState {
                    battery_percent: input.u8() % 110,
                    charging: input.u8(),
                    low_power_mode: input.u8(),
                    free_storage_bytes: u64::from(input.u32()) << (input.u8() % 32),
                };
                let ptr: *const EmberDeviceState = if null(1) { std::ptr::null() } else { &state };
                // SAFETY: NULL or valid.
                let code = checked(unsafe { ember_index_set_device_state(handle, ptr) }, "device state");
                if code == EmberResult::Ok {
                    assert!(
                        state.battery_percent <= 100 && !ptr.is_null(),
                        "a bad device state was accepted"
                    );
                }
            }
            12 => {
                let precision = u32::from(input.u8() % 4);
                let mut progress = Progress { token: std::ptr::null(), countdown: 0 };
                // A sidecar already there makes a cancelled materialize a successful no-op.
                let (task, _) = self.task(input, &mut progress);
                let task_ptr = task.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
                // SAFETY: pointers NULL or valid.
                let code = checked(
                    unsafe { ember_index_materialize_vectors(handle, precision, task_ptr) },
                    "materialize",
                );
                if code == EmberResult::Ok {
                    assert!((1..=2).contains(&precision), "materialize accepted precision {precision}");
                }
                self.after_write(i, code, |_| {}, &[], "materialize");
                self.settle(&task);
            }
            13 => {
                let code = checked(ember_index_evict_vectors(handle), "evict");
                self.after_write(i, code, |_| {}, &[], "evict");
            }
            // results: read, free, free twice, read after free
            14 => {
                let k = usize::from(input.u8());
                if self.results.is_empty() {
                    return;
                }
                let r = self.results[k % self.results.len()];
                let n = ember_search_results_len(r);
                let mut id = std::ptr::null();
                let mut score = 0f32;
                // SAFETY: valid out-pointers.
                let code =
                    checked(unsafe { ember_search_results_hit(r, k % (n + 2), &mut id, &mut score) }, "hit");
                assert_eq!(code == EmberResult::Ok, k % (n + 2) < n, "hit {} of {n}", k % (n + 2));
                let mut reason = std::ptr::null();
                // SAFETY: a valid out-pointer.
                assert_eq!(unsafe { ember_search_results_reason(r, &mut reason) }, EmberResult::Ok);
                if k & 1 == 1 {
                    self.results.retain(|&x| x != r);
                    ember_search_results_free(r);
                    ember_search_results_free(r);
                    assert_eq!(ember_search_results_len(r), 0, "freed results still answer");
                }
            }
            // tokens
            15 => match input.u8() % 3 {
                0 => self.renew_token(),
                1 => {
                    let code = checked(ember_cancellation_token_cancel(self.token), "cancel");
                    assert_eq!(code == EmberResult::Ok, !self.token.is_null());
                    self.renew_token();
                }
                _ => {
                    let stale = self.token;
                    self.renew_token();
                    if !stale.is_null() {
                        assert_eq!(ember_cancellation_token_cancel(stale), EmberResult::InvalidArgument);
                    }
                }
            },
            16 => {
                let mut stats = EmberIndexStats::default();
                let mut model = std::ptr::null();
                // SAFETY: valid out-pointers.
                let codes = unsafe {
                    [ember_index_stats(handle, &mut stats), ember_index_model_id(handle, &mut model)]
                };
                for code in codes {
                    assert_eq!(checked(code, "stats") == EmberResult::Ok, usable, "stats of a handle");
                }
            }
            // garbage handles of every kind
            17 => {
                let token = std::ptr::without_provenance_mut::<u8>(input.u32() as usize);
                let mut stats = EmberIndexStats::default();
                let mut dim = 0;
                // SAFETY: valid out-pointers; handles are never dereferenced.
                let codes = unsafe {
                    [
                        ember_index_stats(token.cast(), &mut stats),
                        ember_embedder_dim(token.cast(), &mut dim),
                        ember_index_commit(token.cast()),
                        ember_cancellation_token_cancel(token.cast()),
                    ]
                };
                for code in codes {
                    checked(code, "garbage handle");
                }
                let _ = ember_search_results_len(token.cast());
            }
            // NULL out-parameters and arguments of the small calls
            _ => {
                // SAFETY: NULL everywhere: each must be refused.
                unsafe {
                    for code in [
                        ember_index_stats(handle, std::ptr::null_mut()),
                        ember_index_model_id(handle, std::ptr::null_mut()),
                        ember_index_delete(handle, std::ptr::null(), 1, &mut 0),
                        ember_index_set_device_state(handle, std::ptr::null()),
                        ember_search_options_default(std::ptr::null_mut()),
                        ember_open_options_default(std::ptr::null_mut()),
                        ember_index_options_default(std::ptr::null_mut()),
                        ember_cancellation_token_new(std::ptr::null_mut()),
                        ember_stored_passage_view(std::ptr::null(), std::ptr::null_mut()),
                    ] {
                        let code = checked(code, "NULL argument");
                        assert!(
                            matches!(code, EmberResult::InvalidArgument | EmberResult::Closed),
                            "NULL gave {code:?}"
                        );
                    }
                }
            }
        }
    }

    /// Check a search's outcome, and keep its results for later operations.
    fn after_search(&mut self, i: usize, code: EmberResult, out: *mut CSearchResults, k: u32) {
        let s = &self.slots[i];
        if code != EmberResult::Ok {
            assert!(out.is_null(), "a failed search set its out-handle");
            return;
        }
        let n = ember_search_results_len(out);
        assert!(n <= k as usize, "{n} hits for k = {k}");
        let mut last = f32::INFINITY;
        for j in 0..n {
            let mut id = std::ptr::null();
            let mut score = 0f32;
            // SAFETY: valid out-pointers; `id` lives until the results are freed.
            let hit = unsafe {
                assert_eq!(ember_search_results_hit(out, j, &mut id, &mut score), EmberResult::Ok);
                CStr::from_ptr(id).to_string_lossy().into_owned()
            };
            assert!(score.is_finite() && score <= last + 1e-4, "hit {j}: score {score} after {last}");
            last = score;
            assert!(s.view.contains(&hit), "hit {hit:?} is not live; model {:?}", s.view);
        }
        self.results.push(out);
        if self.results.len() > 4 {
            ember_search_results_free(self.results.remove(0));
        }
    }

    /// Close and free everything this run made, so that nothing outlives it.
    fn finish(mut self) {
        for i in 0..self.slots.len() {
            self.close(i);
        }
        // Every handle is closed, so both directories are free for a writer.
        for d in 0..2 {
            if self.dirs[d].join("CURRENT").exists() {
                let mut out = std::ptr::null_mut();
                let dir = std::ffi::CString::new(self.dir_c[d].clone()).unwrap_or_default();
                // SAFETY: valid arguments.
                let code = checked(
                    unsafe { ember_index_open(dir.as_ptr(), std::ptr::null(), std::ptr::null(), &mut out) },
                    "final open",
                );
                assert_ne!(
                    code,
                    EmberResult::Locked,
                    "a closed handle kept {} locked",
                    self.dirs[d].display()
                );
                ember_index_close(out);
            }
        }
        for r in self.results.drain(..) {
            ember_search_results_free(r);
        }
        for p in self.stored.drain(..) {
            ember_stored_passage_free(p);
        }
        self.renew_token();
        for e in self.embedders.drain(..) {
            ember_embedder_free(e);
        }
        let _ = std::fs::remove_dir_all(root());
    }
}

/// Run the C calls the input describes. First byte: bit 0 = open with `Sync` durability only.
pub fn capi_sequence(data: &[u8]) {
    let mut input = Input::new(data);
    let sync = input.u8() & 1 == 1;
    let mut run = Run::new();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        run.op(&mut input, sync);
    }
    run.finish();
}

/// Seed inputs: a realistic session, NULLs and stale handles, and cancellation.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    // An operation: opcode, slot, NULL mask, then its bytes.
    fn op(code: u8, slot: u8, nulls: u8, args: &[&[u8]]) -> Vec<u8> {
        [&[code, slot, nulls][..], &args.concat()].concat()
    }
    // A passage: id and text selectors (vocabulary indexes), metadata (key, kind, value, string).
    fn p(id: u8, text: u8, meta: &[(u8, u8, u32, u8)]) -> Vec<u8> {
        let mut out = vec![id, text, meta.len() as u8];
        for &(key, kind, value, string) in meta {
            out.extend([key, kind]);
            out.extend(value.to_le_bytes());
            if kind == 3 {
                out.push(string);
            }
        }
        out
    }
    fn ps(list: &[Vec<u8>]) -> Vec<u8> {
        [vec![list.len() as u8], list.concat()].concat()
    }
    // Task bytes: 0 none; 1 empty; 3 token; 7 cancelled token; 0x0b token + progress that
    // cancels at the first report; 0x1b at the second.
    let notes = ps(&[
        p(0, 0, &[(0, 3, 0, 0), (1, 1, 2024, 0)]),
        p(1, 1, &[(0, 3, 0, 1)]),
        p(2, 2, &[(2, 0, 1, 0), (3, 2, 0.25f32.to_bits(), 0)]),
    ]);
    let more = ps(&[p(3, 3, &[]), p(4, 4, &[(1, 1, 7, 0)])]);
    // create: dir, embedder, passages, task, vectors, embed chunk, options given.
    let create = op(0, 0, 0, &[&[0, 0], &notes, &[0, 1, 2, 1]]); // with an f16 sidecar
    let add = op(2, 0, 0, &[&more, &[0]]);
    // search: query, filter, k, mode, beam, rerank, filter given, options given.
    let search = op(5, 0, 0, &[&[0, 1, 3, 0, 64, 8, 1, 1]]);
    let session = [
        vec![0],
        create.clone(),
        add.clone(),
        add.clone(), // DuplicateId
        op(3, 0, 0, &[&ps(&[p(1, 7, &[])]), &[0]]),
        op(3, 0, 0, &[&ps(&[p(6, 6, &[])]), &[0]]), // UnknownId
        op(4, 0, 0, &[&[2, 2, 5]]),
        search.clone(),
        op(1, 1, 0, &[&[0, 0, 1, 1, 1]]), // read-only beside the writer
        op(1, 2, 0, &[&[0, 0, 0, 0, 1]]), // a second writer: Locked
        op(10, 0, 0, &[&[1, 1]]),
        op(7, 0, 0, &[]),
        op(8, 0, 0, &[&[0]]),
        op(11, 0, 0, &[&[50, 1, 0, 255, 255, 0, 0, 8]]),
        op(12, 0, 0, &[&[1, 0]]),
        search.clone(),
        op(13, 0, 0, &[]),
        op(14, 0, 0, &[&[3]]),
        op(9, 0, 0, &[]),
        op(1, 0, 0, &[&[0, 0, 0, 1, 1]]),
        search.clone(),
        op(16, 1, 0, &[]),
    ]
    .concat();
    let abuse = [
        vec![1],
        create.clone(),
        // Not UTF-8: a raw id and text (selector 255, then length and bytes).
        op(2, 0, 0, &[&[1, 255, 2, 0xc3, 0x28, 255, 3, 0x80, 0x81, 0x82, 0, 0]]),
        op(0, 1, 0x8f, &[&[1, 0], &notes, &[0, 0, 0, 0]]),
        op(2, 0, 0x83, &[&more, &[0]]),
        op(5, 0, 0x8a, &[&[0, 0, 0, 0, 0, 0, 0, 1]]),
        op(6, 0, 0, &[&[3, 1, 2, 3, 0, 0]]),
        op(6, 0, 0, &[&[16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 2]]),
        op(17, 0, 0, &[&[0x11, 0, 0, 0]]),
        op(18, 0, 0, &[]),
        op(9, 0, 0, &[]),
        op(9, 0, 0, &[]),
        add.clone(), // on a closed handle
        search.clone(),
        op(14, 0, 0, &[&[1]]),
        op(14, 0, 0, &[&[1]]),
        op(0, 2, 0, &[&[1, 0x87], &notes, &[0, 0, 0, 0]]), // a freed embedder
        op(0, 2, 0, &[&[1, 5], &notes, &[0, 0, 0, 0]]),    // a failing embedder
        op(15, 0, 0, &[&[2]]),
    ]
    .concat();
    let cancel = [
        vec![0],
        op(0, 0, 0, &[&[1, 0], &notes, &[0x0b, 0, 1, 1]]), // cancelled after the first chunk
        op(0, 0, 0, &[&[0, 0], &notes, &[0, 0, 2, 1]]),    // no sidecar: materialize has work
        op(2, 0, 0, &[&more, &[0x07]]),
        op(2, 0, 0, &[&more, &[0x0b]]),
        op(12, 0, 0, &[&[2, 0x07]]),
        op(4, 0, 0, &[&[1, 0]]),
        op(8, 0, 0, &[&[0x07]]),
        op(8, 0, 0, &[&[0x1b]]),
        op(15, 0, 0, &[&[1]]),
        search,
    ]
    .concat();
    vec![("session", session), ("abuse", abuse), ("cancel", cancel)]
}
