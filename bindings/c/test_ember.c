/* Test of the C ABI through ffi/include/ember.h: the ONNX model and a C callback embedder; the
 * living index (add, update, delete, get, commit, reopen, compact, metadata filters, device state,
 * stored vectors, cancellation); typed result codes for bad input; API abuse (NULL for every
 * pointer argument, closed, stale, foreign and doubly freed handles, wrong lengths, non-UTF-8
 * text); threads searching while another adds and while the index closes; and the README's C
 * snippet (readme_snippet.c, cut from README.md by scripts/sdk/test-bindings.sh).
 * Built for x86_64 and aarch64 (run under qemu).
 * Usage: test_ember MODEL_DIR SCRATCH_DIR EXPECTED_VERSION. Prints "c: N passed, N failed". */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ember.h"

int readme_example(const char *model_dir, const char *index_dir, char *top_id, size_t top_id_len);

static int passed, failed;
static const char *scratch;

#define CHECK(cond, ...)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      printf("  check failed at line %d: %s: ", __LINE__, #cond);                          \
      printf(__VA_ARGS__);                                                                 \
      printf(" (last error: %s)\n", ember_last_error_message());                           \
      return 1;                                                                            \
    }                                                                                      \
  } while (0)

/* A call must return `code`. */
#define EXPECT(call, code)                                                                       \
  do {                                                                                           \
    EmberResult got_ = (call);                                                                   \
    if (got_ != (code)) {                                                                        \
      printf("  check failed at line %d: %s returned %u, not %s (last error: %s)\n", __LINE__,   \
             #call, (unsigned)got_, #code, ember_last_error_message());                          \
      return 1;                                                                                  \
    }                                                                                            \
  } while (0)
#define OK(call) EXPECT(call, EMBER_RESULT_OK)
#define BAD(call) EXPECT(call, EMBER_RESULT_INVALID_ARGUMENT)

static const char *path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", scratch, name);
  return buf;
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static const EmberPassage NOTES[] = {
    {"battery", "Buy batteries for the torch before the camping trip"},
    {"disk", "Free disk space by deleting old build folders"},
    {"pasta", "Boil the pasta for nine minutes in salted water"},
    {"train", "The train to the coast leaves at seven in the morning"},
    {"cat", "Feed the cat twice a day and refill its water bowl"},
    {"tax", "File the tax return before the end of April"},
};
static const size_t NOTES_LEN = sizeof NOTES / sizeof NOTES[0];

static const char *model_dir;
static const char *expected_version;

/* The id of hit `i`, or "" (for messages). */
static const char *hit_id(const EmberSearchResults *results, size_t i) {
  const char *id = NULL;
  float score = 0;
  return ember_search_results_hit(results, i, &id, &score) == EMBER_RESULT_OK ? id : "";
}

/* Search `query` and return the top hit's id in `top` ("" when there is none). */
static EmberResult top_hit(const EmberIndex *index, const char *query, const EmberSearchOptions *options, char *top,
                           size_t top_len) {
  EmberSearchResults *results = NULL;
  EmberResult r = ember_index_search(index, query, options, &results);
  snprintf(top, top_len, "%s", r == EMBER_RESULT_OK ? hit_id(results, 0) : "");
  ember_search_results_free(results);
  return r;
}

static int test_version(void) {
  CHECK(strcmp(ember_version(), expected_version) == 0, "version %s", ember_version());
  return 0;
}

static int test_null_and_missing(void) {
  EmberIndex *index = (EmberIndex *)1;
  BAD(ember_index_open(NULL, NULL, NULL, &index));
  CHECK(index == NULL, "out-parameter not reset");
  CHECK(strstr(ember_last_error_message(), "dir") != NULL, "message names the argument");
  BAD(ember_index_open("x", NULL, NULL, NULL));
  CHECK(ember_search_results_len(NULL) == 0, "NULL results");
  ember_index_close(NULL);
  ember_search_results_free(NULL);
  ember_embedder_free(NULL);

  EmberEmbedder *embedder = NULL;
  EXPECT(ember_embedder_new_onnx(path("no-model"), NULL, &embedder), EMBER_RESULT_NOT_FOUND);
  CHECK(embedder == NULL, "no handle on failure");
  EXPECT(ember_index_open(path("no-index"), NULL, NULL, &index), EMBER_RESULT_NOT_FOUND);
  return 0;
}

static int test_corrupt(void) {
  mkdir(path("corrupt"), 0755);
  FILE *f = fopen(path("corrupt/CURRENT"), "w");
  CHECK(f != NULL, "create CURRENT");
  fputs("segment-000001.ember\n", f);
  fclose(f);
  f = fopen(path("corrupt/segment-000001.ember"), "wb");
  CHECK(f != NULL, "create segment");
  for (int i = 0; i < 4096; i++) fputc((i * 31) & 0xff, f);
  fclose(f);
  EmberIndex *index = NULL;
  EXPECT(ember_index_open(path("corrupt"), NULL, NULL, &index), EMBER_RESULT_CORRUPT);
  return 0;
}

static size_t progress_calls, progress_last;
static void on_progress(void *data, size_t done, size_t total) {
  (void)data;
  progress_calls++;
  progress_last = done;
  if (total != NOTES_LEN) progress_last = (size_t)-1;
}

static int test_onnx(void) {
  EmberEmbedder *embedder = NULL;
  OK(ember_embedder_new_onnx(model_dir, NULL, &embedder));
  size_t dim = 0;
  OK(ember_embedder_dim(embedder, &dim));
  CHECK(dim == 384, "dim %zu", dim);

  EmberIndexOptions options;
  OK(ember_index_options_default(&options));
  options.embed_chunk = 2;
  EmberIndex *index = NULL;
  EmberTask task = {.progress = on_progress};
  OK(ember_index_create(path("onnx"), embedder, NOTES, NOTES_LEN, &options, &task, &index));
  CHECK(progress_calls == 3 && progress_last == NOTES_LEN, "progress %zu calls, last %zu", progress_calls,
        progress_last);

  EmberSearchOptions search;
  OK(ember_search_options_default(&search));
  search.k = 3;
  search.mode = EMBER_MODE_RECOMPUTE;
  EmberSearchResults *results = NULL;
  OK(ember_index_search(index, "where do I get batteries for my flashlight", &search, &results));
  CHECK(ember_search_results_len(results) == 3, "hits %zu", ember_search_results_len(results));
  const char *id = NULL;
  float score = 0;
  OK(ember_search_results_hit(results, 0, &id, &score));
  CHECK(strcmp(id, "battery") == 0 && score > 0.3f, "top hit %s %f", id, score);
  BAD(ember_search_results_hit(results, 3, &id, &score));
  EmberSearchInfo info;
  OK(ember_search_results_info(results, &info));
  CHECK(info.mode == EMBER_MODE_RECOMPUTE && info.reembedded > 0, "mode %u reembedded %llu", (unsigned)info.mode,
        (unsigned long long)info.reembedded);
  CHECK(info.vectors_advice == EMBER_VECTOR_ACTION_NONE && !info.scanned, "advice %u", (unsigned)info.vectors_advice);
  /* What the search cost: every thread's CPU time, and the estimate at the default profile. */
  EmberOpenOptions defaults;
  OK(ember_open_options_default(&defaults));
  double priced = info.energy_mj - info.cpu_ms * defaults.energy_big_j_per_cpu_s; /* no libm: no fabs */
  CHECK(info.cpu_ms > 0 && priced < 1e-6 && priced > -1e-6, "cpu %f ms, energy %f mJ", info.cpu_ms, info.energy_mj);
  const char *reason = NULL;
  OK(ember_search_results_reason(results, &reason));
  CHECK(reason != NULL, "reason");
  ember_search_results_free(results);

  EmberIndexStats stats;
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == NOTES_LEN && stats.dim == 384 && stats.deleted == 0 && stats.generation >= 1,
        "stats %llu %llu", (unsigned long long)stats.passages, (unsigned long long)stats.dim);

  /* The build measured its search defaults; a search with beam and rerank 0 runs with them. */
  EmberSearchDefaults effort;
  OK(ember_index_search_defaults(index, &effort));
  CHECK(effort.calibrated_at == NOTES_LEN && effort.stored.rerank >= 10 &&
            effort.stored.beam >= effort.stored.rerank && effort.recompute.rerank <= effort.stored.rerank,
        "defaults %u/%u %u/%u at %llu", effort.stored.beam, effort.stored.rerank, effort.recompute.beam,
        effort.recompute.rerank, (unsigned long long)effort.calibrated_at);
  BAD(ember_index_search_defaults(index, NULL));
  EmberSearchOptions stored;
  ember_search_options_default(&stored);
  CHECK(stored.beam == 0 && stored.rerank == 0, "default options ask for the index's effort");
  stored.mode = EMBER_MODE_CODES_ONLY;
  OK(ember_index_search(index, "cat", &stored, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.beam == effort.stored.beam && info.rerank == 0, "codes search ran beam %llu rerank %llu",
        (unsigned long long)info.beam, (unsigned long long)info.rerank);
  ember_search_results_free(results);
  stored.beam = 77;
  OK(ember_index_search(index, "cat", &stored, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.beam == 77, "an explicit beam wins: %llu", (unsigned long long)info.beam);
  ember_search_results_free(results);

  float wrong[3] = {1, 0, 0};
  EXPECT(ember_index_search_vector(index, wrong, 3, NULL, &results), EMBER_RESULT_DIMENSION_MISMATCH);
  CHECK(results == NULL, "no results on failure");
  search.k = 0;
  BAD(ember_index_search(index, "cat", &search, &results));
  search.k = 3;
  search.mode = 99;
  BAD(ember_index_search(index, "cat", &search, &results));
  ember_index_close(index);

  /* Reopen with the embedder (freed early: the index keeps its own reference). */
  OK(ember_index_open(path("onnx"), embedder, NULL, &index));
  ember_embedder_free(embedder);
  float query[384];
  EmberEmbedder *again = NULL;
  OK(ember_embedder_new_onnx(model_dir, NULL, &again));
  EXPECT(ember_embedder_embed(again, "cooking spaghetti", EMBER_TEXT_KIND_QUERY, query, 10),
         EMBER_RESULT_DIMENSION_MISMATCH);
  OK(ember_embedder_embed(again, "cooking spaghetti", EMBER_TEXT_KIND_QUERY, query, 384));
  ember_embedder_free(again);
  OK(ember_index_search_vector(index, query, 384, NULL, &results));
  CHECK(strcmp(hit_id(results, 0), "pasta") == 0, "top hit %s", hit_id(results, 0));
  ember_search_results_free(results);
  ember_index_close(index);
  return 0;
}

/* A model-free embedder in C: hashed bag of words, as an accelerator would plug in. It counts its
 * calls by kind (symmetric, it embeds both kinds alike), so a test can see which kind Ember asked
 * for. */
enum { WORDS_DIM = 32 };
static int kind_calls[2];
static int words_embed(void *data, const char *const *texts, size_t texts_len, EmberTextKind kind, float *out,
                       size_t out_len) {
  if (data) (*(int *)data)++;
  if (kind != EMBER_TEXT_KIND_QUERY && kind != EMBER_TEXT_KIND_PASSAGE) return 3;
  __atomic_fetch_add(&kind_calls[kind], 1, __ATOMIC_RELAXED);
  if (out_len != texts_len * WORDS_DIM) return 2;
  memset(out, 0, out_len * sizeof *out);
  for (size_t t = 0; t < texts_len; t++) {
    unsigned h = 5381;
    for (const char *c = texts[t];; c++) {
      if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')) {
        h = h * 33 + (unsigned)(*c | 0x20);
      } else {
        if (h != 5381) out[t * WORDS_DIM + h % WORDS_DIM] += 1.0f;
        h = 5381;
        if (*c == 0) break;
      }
    }
    out[t * WORDS_DIM] += 0.01f; /* never an all-zero vector */
  }
  return 0;
}
static int failing_embed(void *data, const char *const *texts, size_t n, EmberTextKind kind, float *out,
                         size_t len) {
  (void)data, (void)texts, (void)n, (void)kind, (void)out, (void)len;
  return 7;
}

static int test_callback_embedder(void) {
  int calls = 0;
  EmberEmbedder *words = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, NULL, NULL, words_embed, &calls, &words));
  EmberIndex *index = NULL;
  memset(kind_calls, 0, sizeof kind_calls);
  OK(ember_index_create(path("words"), words, NOTES, NOTES_LEN, NULL, NULL, &index));
  CHECK(calls > 0, "callback not called");
  /* Building embeds the passages, then its sample queries in one call (to measure its search
   * defaults); the search embeds its text as a query, once. */
  CHECK(kind_calls[EMBER_TEXT_KIND_PASSAGE] > 0 && kind_calls[EMBER_TEXT_KIND_QUERY] == 1, "build: %d query calls",
        kind_calls[EMBER_TEXT_KIND_QUERY]);
  char top[64];
  OK(top_hit(index, "feed the cat", NULL, top, sizeof top));
  CHECK(strcmp(top, "cat") == 0, "top %s", top);
  CHECK(kind_calls[EMBER_TEXT_KIND_QUERY] == 2, "search: %d query calls", kind_calls[EMBER_TEXT_KIND_QUERY]);
  float vec[WORDS_DIM];
  OK(ember_embedder_embed(words, "feed the cat", EMBER_TEXT_KIND_PASSAGE, vec, WORDS_DIM));
  BAD(ember_embedder_embed(words, "feed the cat", 2, vec, WORDS_DIM)); /* not an EmberTextKind */
  ember_index_close(index);

  /* The ONNX-built index refuses this model; the words index refuses the same model with a
   * query prefix it was not built with. */
  EXPECT(ember_index_open(path("onnx"), words, NULL, &index), EMBER_RESULT_MODEL_MISMATCH);
  ember_embedder_free(words);
  EmberEmbedder *prefixed = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, "query: ", NULL, words_embed, NULL, &prefixed));
  EXPECT(ember_index_open(path("words"), prefixed, NULL, &index), EMBER_RESULT_MODEL_MISMATCH);
  CHECK(strstr(ember_last_error_message(), "query prefix") != NULL, "message %s", ember_last_error_message());
  ember_embedder_free(prefixed);

  EmberEmbedder *failing = NULL;
  OK(ember_embedder_new_callback("failing", 8, NULL, NULL, failing_embed, NULL, &failing));
  EXPECT(ember_index_create(path("failing"), failing, NOTES, NOTES_LEN, NULL, NULL, &index), EMBER_RESULT_INTERNAL);
  CHECK(strstr(ember_last_error_message(), "returned 7") != NULL, "message %s", ember_last_error_message());
  ember_embedder_free(failing);
  BAD(ember_embedder_new_callback("x", 0, NULL, NULL, words_embed, NULL, &failing));
  BAD(ember_embedder_new_callback("x", 8, NULL, NULL, NULL, NULL, &failing));
  return 0;
}

/* The app's texts for the text-source test: NOTES, with the cat's text edited when `edited`. */
static int source_calls, source_edited;
static int note_texts(void *data, const char *const *ids, size_t ids_len, EmberTexts *out) {
  (void)data;
  source_calls++;
  for (size_t i = 0; i < ids_len; i++) {
    for (size_t j = 0; j < NOTES_LEN; j++) {
      if (strcmp(ids[i], NOTES[j].id) != 0) continue;
      const char *t = source_edited && strcmp(ids[i], "cat") == 0 ? "edited" : NOTES[j].text;
      if (ember_texts_set(out, i, t, strlen(t)) != EMBER_RESULT_OK) return 1;
    }
  }
  return 0;
}

static int test_text_source(void) {
  EmberEmbedder *words = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, NULL, NULL, words_embed, NULL, &words));
  EmberIndexOptions io;
  OK(ember_index_options_default(&io));
  CHECK(io.text == EMBER_TEXT_STORAGE_STORE, "default text storage %u", (unsigned)io.text);
  io.text = EMBER_TEXT_STORAGE_NONE;
  EmberIndex *index = NULL;
  OK(ember_index_create(path("held"), words, NOTES, NOTES_LEN, &io, NULL, &index));
  EmberIndexStats st;
  OK(ember_index_stats(index, &st));
  CHECK(st.text == EMBER_TEXT_STORAGE_NONE && st.text_store_bytes == 0 && st.dir_bytes > 0,
        "text %u, store %llu, dir %llu", (unsigned)st.text, (unsigned long long)st.text_store_bytes,
        (unsigned long long)st.dir_bytes);
  EmberSearchOptions so;
  OK(ember_search_options_default(&so));
  so.mode = EMBER_MODE_RECOMPUTE;
  char top[64];
  EXPECT(top_hit(index, "feed the cat", &so, top, sizeof top), EMBER_RESULT_TEXT_UNAVAILABLE);
  OK(ember_index_set_text_source(index, note_texts, NULL));
  source_calls = 0;
  OK(top_hit(index, "feed the cat", &so, top, sizeof top));
  CHECK(strcmp(top, "cat") == 0 && source_calls == 1, "top %s after %d source calls", top, source_calls);
  EmberStoredPassage *p = NULL;
  source_edited = 1;
  EXPECT(ember_index_get(index, "cat", &p), EMBER_RESULT_TEXT_CHANGED);
  source_edited = 0;
  OK(ember_index_get(index, "cat", &p));
  CHECK(p != NULL, "cat not found");
  ember_stored_passage_free(p);
  OK(ember_index_set_text_source(index, NULL, NULL));
  EXPECT(ember_index_get(index, "cat", &p), EMBER_RESULT_TEXT_UNAVAILABLE);
  BAD(ember_texts_set(NULL, 0, "x", 1));
  ember_index_close(index);
  ember_embedder_free(words);
  return 0;
}

/* Metadata for the living-index test: folder (string) and year (int). */
#define STR(s) {.kind = EMBER_VALUE_KIND_STR, .str_value = (s)}
#define INT(i) {.kind = EMBER_VALUE_KIND_INT, .int_value = (i)}
static const EmberMetadataEntry TRAVEL_2024[] = {{"folder", STR("travel")}, {"year", INT(2024)}};
static const EmberMetadataEntry HOME_2023[] = {{"folder", STR("home")}, {"year", INT(2023)}};
static const EmberMetadataEntry TRAVEL_2025[] = {
    {"folder", STR("travel")}, {"year", INT(2025)}, {"pinned", {.kind = EMBER_VALUE_KIND_BOOL, .int_value = 1}},
    {"weight", {.kind = EMBER_VALUE_KIND_FLOAT, .float_value = 0.5}}};

static int test_living(void) {
  EmberEmbedder *embedder = NULL;
  OK(ember_embedder_new_onnx(model_dir, NULL, &embedder));
  EmberPassage notes[] = {
      {"battery", "Buy batteries for the torch before the camping trip", TRAVEL_2024, 2},
      {"disk", "Free disk space by deleting old build folders", HOME_2023, 2},
      {"pasta", "Boil the pasta for nine minutes in salted water", HOME_2023, 2},
      {"train", "The train to the coast leaves at seven in the morning", TRAVEL_2024, 2},
  };
  const char *dir = path("living");
  EmberIndex *index = NULL;
  OK(ember_index_create(dir, embedder, notes, 4, NULL, NULL, &index));

  /* A metadata filter keeps only matching passages. */
  EmberSearchOptions search;
  OK(ember_search_options_default(&search));
  search.filter = "folder = \"home\"";
  char top[64];
  OK(top_hit(index, "batteries for a flashlight", &search, top, sizeof top));
  CHECK(strcmp(top, "disk") == 0 || strcmp(top, "pasta") == 0, "filtered top %s", top);
  search.filter = "folder = 'travel' and year >= 2025";
  OK(top_hit(index, "batteries", &search, top, sizeof top));
  CHECK(strcmp(top, "") == 0, "nothing from 2025 yet, got %s", top);
  search.filter = "folder = (";
  BAD(top_hit(index, "batteries", &search, top, sizeof top));

  /* add, then the typed errors: DuplicateId on add, UnknownId on update. */
  EmberPassage ferry = {"ferry", "The ferry to the island sails at noon", TRAVEL_2025, 4};
  OK(ember_index_add(index, &ferry, 1, NULL));
  EXPECT(ember_index_add(index, &ferry, 1, NULL), EMBER_RESULT_DUPLICATE_ID);
  CHECK(strstr(ember_last_error_message(), "ferry") != NULL, "message %s", ember_last_error_message());
  EmberPassage ghost = {"ghost", "Nobody here"};
  EXPECT(ember_index_update(index, &ghost, 1, NULL), EMBER_RESULT_UNKNOWN_ID);
  search.filter = "folder = 'travel' and year >= 2025";
  OK(top_hit(index, "boat to the island", &search, top, sizeof top));
  CHECK(strcmp(top, "ferry") == 0, "added passage found, got %s", top);

  /* update replaces text and metadata; get reads them back. */
  EmberPassage pasta = {"pasta", "Cook the risotto for eighteen minutes, stirring", TRAVEL_2025, 2};
  OK(ember_index_update(index, &pasta, 1, NULL));
  EmberStoredPassage *got = NULL;
  OK(ember_index_get(index, "pasta", &got));
  EmberPassage view;
  OK(ember_stored_passage_view(got, &view));
  CHECK(strcmp(view.id, "pasta") == 0 && strstr(view.text, "risotto") != NULL, "get %s %s", view.id, view.text);
  CHECK(view.metadata_len == 2 && strcmp(view.metadata[0].key, "folder") == 0 &&
            view.metadata[0].value.kind == EMBER_VALUE_KIND_STR &&
            strcmp(view.metadata[0].value.str_value, "travel") == 0 && strcmp(view.metadata[1].key, "year") == 0 &&
            view.metadata[1].value.kind == EMBER_VALUE_KIND_INT && view.metadata[1].value.int_value == 2025,
        "metadata of %s", view.id);
  ember_stored_passage_free(got);
  OK(ember_index_get(index, "ferry", &got));
  OK(ember_stored_passage_view(got, &view));
  CHECK(view.metadata_len == 4 && strcmp(view.metadata[0].key, "folder") == 0 &&
            strcmp(view.metadata[1].key, "pinned") == 0 && view.metadata[1].value.kind == EMBER_VALUE_KIND_BOOL &&
            view.metadata[1].value.int_value == 1 && view.metadata[2].value.kind == EMBER_VALUE_KIND_FLOAT &&
            view.metadata[2].value.float_value == 0.5,
        "ferry metadata");
  ember_stored_passage_free(got);
  OK(ember_index_get(index, "ghost", &got));
  CHECK(got == NULL, "missing passage");

  /* delete: unknown ids are ignored. */
  const char *gone[] = {"disk", "ghost"};
  size_t deleted = 99;
  OK(ember_index_delete(index, gone, 2, &deleted));
  CHECK(deleted == 1, "deleted %zu", deleted);
  OK(ember_index_get(index, "disk", &got));
  CHECK(got == NULL, "deleted passage still readable");

  /* A second read-write open is refused; a read-only one searches beside the writer. */
  EmberIndex *second = NULL;
  EXPECT(ember_index_open(dir, embedder, NULL, &second), EMBER_RESULT_LOCKED);
  EmberOpenOptions ro;
  OK(ember_open_options_default(&ro));
  ro.read_only = 1;
  OK(ember_index_open(dir, embedder, &ro, &second));
  OK(top_hit(second, "boat to the island", NULL, top, sizeof top));
  CHECK(strcmp(top, "ferry") == 0, "read-only sees logged changes, got %s", top);
  EXPECT(ember_index_add(second, &ghost, 1, NULL), EMBER_RESULT_READ_ONLY);
  ember_index_close(second);

  OK(ember_index_commit(index));
  EmberIndexStats stats;
  OK(ember_index_stats(index, &stats));
  /* Two tombstones: the deleted passage and the replaced text of the updated one. */
  CHECK(stats.passages == 4 && stats.deleted == 2 && stats.pending_ops == 0, "after commit %llu %llu %llu",
        (unsigned long long)stats.passages, (unsigned long long)stats.deleted, (unsigned long long)stats.pending_ops);
  ember_index_close(index);
  EXPECT(ember_index_stats(index, &stats), EMBER_RESULT_CLOSED);

  /* Reopen (buffered durability this time): every change is there. */
  EmberOpenOptions rw;
  OK(ember_open_options_default(&rw));
  rw.durability = EMBER_DURABILITY_BUFFERED;
  OK(ember_index_open(dir, embedder, &rw, &index));
  OK(ember_index_get(index, "pasta", &got));
  OK(ember_stored_passage_view(got, &view));
  CHECK(strstr(view.text, "risotto") != NULL, "update survived reopen: %s", view.text);
  ember_stored_passage_free(got);
  OK(ember_index_get(index, "disk", &got));
  CHECK(got == NULL, "delete survived reopen");
  search.filter = NULL;
  OK(top_hit(index, "boat to the island", &search, top, sizeof top));
  CHECK(strcmp(top, "ferry") == 0, "add survived reopen, got %s", top);

  OK(ember_index_compact(index, NULL));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == 4 && stats.deleted == 0, "after compact %llu %llu", (unsigned long long)stats.passages,
        (unsigned long long)stats.deleted);
  OK(top_hit(index, "cheap flashlight batteries", NULL, top, sizeof top));
  CHECK(strcmp(top, "battery") == 0, "after compact, got %s", top);
  ember_index_close(index);
  ember_embedder_free(embedder);
  return 0;
}

/* Device state drives auto mode; stored vectors come and go without a rebuild. */
static int test_device_and_vectors(void) {
  EmberEmbedder *embedder = NULL;
  OK(ember_embedder_new_onnx(model_dir, NULL, &embedder));
  EmberIndex *index = NULL;
  OK(ember_index_create(path("device"), embedder, NOTES, NOTES_LEN, NULL, NULL, &index));
  EmberDeviceState low = {.battery_percent = 5, .charging = 0, .low_power_mode = 0, .free_storage_bytes = 1ull << 32};
  OK(ember_index_set_device_state(index, &low));
  EmberSearchResults *results = NULL;
  EmberSearchInfo info;
  OK(ember_index_search(index, "feed the cat", NULL, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.mode == EMBER_MODE_CODES_ONLY && info.vectors_advice == EMBER_VECTOR_ACTION_KEEP, "low battery: %u %u",
        (unsigned)info.mode, (unsigned)info.vectors_advice);
  ember_search_results_free(results);

  EmberDeviceState charging = {.battery_percent = 50, .charging = 1, .free_storage_bytes = 64ull << 30};
  OK(ember_index_set_device_state(index, &charging));
  OK(ember_index_search(index, "feed the cat", NULL, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.mode == EMBER_MODE_RECOMPUTE && info.vectors_advice == EMBER_VECTOR_ACTION_MATERIALIZE,
        "charging: %u %u", (unsigned)info.mode, (unsigned)info.vectors_advice);
  ember_search_results_free(results);

  /* Two searches so far: one codes-only, one recompute; the costs can be saved and restored. */
  EmberModeCosts costs;
  OK(ember_index_mode_costs(index, &costs));
  CHECK(costs.codes.searches == 1 && costs.recompute.searches == 1 && costs.recompute.cpu_ms > 0 &&
            costs.stored.searches == 0,
        "costs: codes %llu, recompute %llu (%f ms)", (unsigned long long)costs.codes.searches,
        (unsigned long long)costs.recompute.searches, costs.recompute.cpu_ms);
  EmberModeCosts restored = costs;
  restored.stored.searches = 7;
  restored.stored.cpu_ms = 1.5;
  OK(ember_index_set_mode_costs(index, &restored));
  OK(ember_index_mode_costs(index, &costs));
  CHECK(costs.stored.searches == 7 && costs.stored.cpu_ms == 1.5, "restored %llu", (unsigned long long)costs.stored.searches);
  restored.codes.energy_mj = -1;
  BAD(ember_index_set_mode_costs(index, &restored));
  BAD(ember_index_set_mode_costs(index, NULL));
  BAD(ember_index_mode_costs(index, NULL));
  uint32_t threads = 0;
  OK(ember_index_embed_threads(index, &threads));
  CHECK(threads >= 1, "threads while charging %u", threads);
  double cpu_ms = 0, energy_mj = 0;
  OK(ember_index_last_write_cost(index, &cpu_ms, &energy_mj));
  CHECK(isnan(cpu_ms) && isnan(energy_mj), "no write yet: %f %f", cpu_ms, energy_mj);
  progress_calls = 0;
  EmberTask task = {.progress = on_progress};
  OK(ember_index_materialize_vectors(index, EMBER_PRECISION_F16, &task));
  OK(ember_index_last_write_cost(index, &cpu_ms, &energy_mj));
  CHECK(cpu_ms > 0 && energy_mj > 0, "materialize cost %f ms %f mJ", cpu_ms, energy_mj);
  BAD(ember_index_last_write_cost(index, NULL, &energy_mj));
  CHECK(progress_calls >= 1 && progress_last == NOTES_LEN, "materialize progress %zu %zu", progress_calls,
        progress_last);
  EmberIndexStats stats;
  OK(ember_index_stats(index, &stats));
  CHECK(stats.sidecar_bytes > 0, "sidecar %llu", (unsigned long long)stats.sidecar_bytes);
  OK(ember_index_search(index, "feed the cat", NULL, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.mode == EMBER_MODE_STORED_RERANK && strcmp(hit_id(results, 0), "cat") == 0, "stored: %u %s",
        (unsigned)info.mode, hit_id(results, 0));
  ember_search_results_free(results);

  EmberDeviceState full = {.battery_percent = 80, .free_storage_bytes = 1 << 20};
  OK(ember_index_set_device_state(index, &full));
  OK(ember_index_search(index, "feed the cat", NULL, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.vectors_advice == EMBER_VECTOR_ACTION_EVICT, "full disk: %u", (unsigned)info.vectors_advice);
  ember_search_results_free(results);
  OK(ember_index_evict_vectors(index));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.sidecar_bytes == 0, "evicted, %llu left", (unsigned long long)stats.sidecar_bytes);

  EmberDeviceState bad = {.battery_percent = 101};
  BAD(ember_index_set_device_state(index, &bad));
  BAD(ember_index_materialize_vectors(index, 0, NULL));
  ember_index_close(index);
  ember_embedder_free(embedder);
  return 0;
}

static int test_keywords(void) {
  EmberEmbedder *embedder = NULL;
  OK(ember_embedder_new_onnx(model_dir, NULL, &embedder));
  EmberIndexOptions io;
  OK(ember_index_options_default(&io));
  CHECK(io.keywords == EMBER_KEYWORDS_NONE, "default keywords %u", (unsigned)io.keywords);
  io.keywords = EMBER_KEYWORDS_STEMMED;
  EmberIndex *index = NULL;
  OK(ember_index_create(path("keywords"), embedder, NOTES, NOTES_LEN, &io, NULL, &index));
  EmberIndexStats stats;
  OK(ember_index_stats(index, &stats));
  CHECK(stats.keyword_bytes > 0, "keyword bytes %llu", (unsigned long long)stats.keyword_bytes);
  EmberSearchOptions options;
  OK(ember_search_options_default(&options));
  CHECK(options.retrieval == EMBER_RETRIEVAL_AUTO && options.fusion == NULL, "default retrieval %u",
        (unsigned)options.retrieval);
  options.retrieval = EMBER_RETRIEVAL_KEYWORDS;
  EmberSearchResults *results = NULL;
  EmberSearchInfo info;
  OK(ember_index_search(index, "april", &options, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.retrieval == EMBER_RETRIEVAL_KEYWORDS && ember_search_results_len(results) == 1 &&
            strcmp(hit_id(results, 0), "tax") == 0 && info.embed_ms == 0 && info.keyword_hits == 1,
        "keywords: %u %zu %s %f", (unsigned)info.retrieval, ember_search_results_len(results), hit_id(results, 0),
        info.embed_ms);
  ember_search_results_free(results);
  OK(ember_index_search(index, "cooking spaghetti", NULL, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.retrieval == EMBER_RETRIEVAL_HYBRID && strcmp(hit_id(results, 0), "pasta") == 0, "hybrid: %u %s",
        (unsigned)info.retrieval, hit_id(results, 0));
  ember_search_results_free(results);
  options.retrieval = EMBER_RETRIEVAL_HYBRID;
  options.fusion = "blend:0.5";
  char top[64];
  OK(top_hit(index, "salted water", &options, top, sizeof top));
  CHECK(strcmp(top, "pasta") == 0, "blend: %s", top);
  options.fusion = "mean";
  BAD(top_hit(index, "salted water", &options, top, sizeof top));
  options.fusion = NULL;
  options.retrieval = 9;
  BAD(top_hit(index, "salted water", &options, top, sizeof top));
  OK(ember_index_drop_keywords(index));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.keyword_bytes == 0, "dropped, %llu left", (unsigned long long)stats.keyword_bytes);
  OK(ember_index_search(index, "april", NULL, &results));
  OK(ember_search_results_info(results, &info));
  CHECK(info.retrieval == EMBER_RETRIEVAL_DENSE, "after drop: %u", (unsigned)info.retrieval);
  ember_search_results_free(results);
  OK(ember_index_build_keywords(index, 0));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.keyword_bytes > 0, "rebuilt: %llu", (unsigned long long)stats.keyword_bytes);
  io.keywords = 7;
  EmberIndex *other = NULL;
  BAD(ember_index_create(path("keywords-bad"), embedder, NOTES, NOTES_LEN, &io, NULL, &other));
  ember_index_close(index);
  ember_embedder_free(embedder);
  return 0;
}

/* Cancel the token given as `data` on the first progress report. */
static void cancel_on_progress(void *data, size_t done, size_t total) {
  (void)done, (void)total;
  ember_cancellation_token_cancel(data);
}

static int test_cancellation(void) {
  EmberEmbedder *words = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, NULL, NULL, words_embed, NULL, &words));
  EmberCancellationToken *token = NULL;
  OK(ember_cancellation_token_new(&token));
  OK(ember_cancellation_token_cancel(token));
  OK(ember_cancellation_token_cancel(token));
  EmberTask cancelled = {.cancel = token};
  EmberIndex *index = NULL;
  EXPECT(ember_index_create(path("cancelled"), words, NOTES, NOTES_LEN, NULL, &cancelled, &index),
         EMBER_RESULT_CANCELLED);
  CHECK(index == NULL && !exists(path("cancelled/CURRENT")), "a cancelled build wrote an index");

  /* Cancelled midway (from the progress callback, after the first chunk): nothing written. */
  EmberCancellationToken *midway = NULL;
  OK(ember_cancellation_token_new(&midway));
  EmberIndexOptions options;
  OK(ember_index_options_default(&options));
  options.embed_chunk = 2;
  EmberTask stop = {.progress = cancel_on_progress, .progress_data = midway, .cancel = midway};
  EXPECT(ember_index_create(path("cancelled"), words, NOTES, NOTES_LEN, &options, &stop, &index),
         EMBER_RESULT_CANCELLED);
  CHECK(!exists(path("cancelled/CURRENT")), "a build cancelled midway wrote an index");
  ember_cancellation_token_free(midway);

  /* add with a cancelled token leaves the index as it was, on disk too. */
  OK(ember_index_create(path("cancel-add"), words, NOTES, 3, NULL, NULL, &index));
  EXPECT(ember_index_add(index, &NOTES[3], 3, &cancelled), EMBER_RESULT_CANCELLED);
  OK(ember_cancellation_token_new(&midway));
  stop.progress_data = midway;
  stop.cancel = midway;
  EXPECT(ember_index_add(index, &NOTES[3], 3, &stop), EMBER_RESULT_CANCELLED);
  ember_cancellation_token_free(midway);
  EmberIndexStats stats;
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == 3 && stats.pending_ops == 0, "after cancelled adds: %llu passages",
        (unsigned long long)stats.passages);
  ember_index_close(index);
  OK(ember_index_open(path("cancel-add"), words, NULL, &index));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == 3, "reopened after cancelled adds: %llu passages", (unsigned long long)stats.passages);
  EXPECT(ember_index_materialize_vectors(index, EMBER_PRECISION_F32, &cancelled), EMBER_RESULT_CANCELLED);
  OK(ember_index_stats(index, &stats));
  CHECK(stats.sidecar_bytes == 0, "cancelled materialize published a sidecar");
  /* The same add without the token goes through. */
  OK(ember_index_add(index, &NOTES[3], 3, NULL));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == 6, "%llu passages", (unsigned long long)stats.passages);
  /* A cancelled compaction keeps the tombstone; an uncancelled one drops it. */
  const char *cat[] = {"cat"};
  size_t deleted = 0;
  OK(ember_index_delete(index, cat, 1, &deleted));
  EXPECT(ember_index_compact(index, &cancelled), EMBER_RESULT_CANCELLED);
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == 5 && stats.deleted == 1, "after a cancelled compaction: %llu deleted",
        (unsigned long long)stats.deleted);
  OK(ember_index_compact(index, NULL));
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == 5 && stats.deleted == 0, "after compaction: %llu deleted", (unsigned long long)stats.deleted);
  ember_index_close(index);

  ember_cancellation_token_free(token);
  ember_cancellation_token_free(token); /* double free: ignored */
  BAD(ember_cancellation_token_cancel(token));
  BAD(ember_index_create(path("cancelled"), words, NOTES, NOTES_LEN, NULL, &cancelled, &index)); /* freed token */
  ember_embedder_free(words);
  return 0;
}

/* Every pointer argument of every function, NULL in turn: a typed error (or, where NULL is
 * documented as allowed, success), never a crash. */
static int test_null_everywhere(void) {
  EmberEmbedder *words = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, NULL, NULL, words_embed, NULL, &words));
  EmberIndex *index = NULL;
  OK(ember_index_create(path("nulls"), words, NOTES, NOTES_LEN, NULL, NULL, &index));
  EmberSearchResults *results = NULL;
  OK(ember_index_search(index, "cat", NULL, &results));
  EmberStoredPassage *stored = NULL;
  OK(ember_index_get(index, "cat", &stored));
  EmberCancellationToken *token = NULL;
  OK(ember_cancellation_token_new(&token));
  EmberEmbedder *e = NULL;
  EmberIndex *ix = NULL;
  EmberSearchResults *r = NULL;
  EmberStoredPassage *sp = NULL;
  const char *s = NULL;
  float f = 0, vec[WORDS_DIM] = {1};
  size_t n = 0;
  EmberPassage p = NOTES[0];
  const char *ids[] = {"cat"};

  BAD(ember_embedder_options_default(NULL));
  BAD(ember_embedder_new_onnx(NULL, NULL, &e));
  BAD(ember_embedder_new_onnx(model_dir, NULL, NULL));
  BAD(ember_embedder_new_callback(NULL, WORDS_DIM, NULL, NULL, words_embed, NULL, &e));
  BAD(ember_embedder_new_callback("x", WORDS_DIM, NULL, NULL, NULL, NULL, &e));
  BAD(ember_embedder_new_callback("x", WORDS_DIM, NULL, NULL, words_embed, NULL, NULL));
  BAD(ember_embedder_dim(NULL, &n));
  BAD(ember_embedder_dim(words, NULL));
  BAD(ember_embedder_embed(NULL, "x", EMBER_TEXT_KIND_QUERY, vec, WORDS_DIM));
  BAD(ember_embedder_embed(words, NULL, EMBER_TEXT_KIND_QUERY, vec, WORDS_DIM));
  BAD(ember_embedder_embed(words, "x", EMBER_TEXT_KIND_QUERY, NULL, WORDS_DIM));
  ember_embedder_free(NULL);

  BAD(ember_index_options_default(NULL));
  BAD(ember_open_options_default(NULL));
  BAD(ember_search_options_default(NULL));
  BAD(ember_index_create(NULL, words, NOTES, NOTES_LEN, NULL, NULL, &ix));
  BAD(ember_index_create(path("nulls2"), NULL, NOTES, NOTES_LEN, NULL, NULL, &ix));
  BAD(ember_index_create(path("nulls2"), words, NULL, NOTES_LEN, NULL, NULL, &ix));
  BAD(ember_index_create(path("nulls2"), words, NOTES, NOTES_LEN, NULL, NULL, NULL));
  OK(ember_index_create(path("nulls2"), words, NULL, 0, NULL, NULL, &ix)); /* an empty index */
  ember_index_close(ix);
  BAD(ember_index_open(NULL, words, NULL, &ix));
  BAD(ember_index_open(path("nulls2"), words, NULL, NULL));
  OK(ember_index_open(path("nulls2"), NULL, NULL, &ix)); /* no embedder: vector searches only */
  BAD(ember_index_add(ix, &p, 1, NULL));                 /* adding needs an embedder */
  ember_index_close(ix);
  ember_index_close(NULL);
  BAD(ember_index_model_id(NULL, &s));
  BAD(ember_index_model_id(index, NULL));
  BAD(ember_index_stats(NULL, &(EmberIndexStats){0}));
  BAD(ember_index_stats(index, NULL));
  BAD(ember_index_get(NULL, "cat", &sp));
  BAD(ember_index_get(index, NULL, &sp));
  BAD(ember_index_get(index, "cat", NULL));
  BAD(ember_stored_passage_view(NULL, &p));
  BAD(ember_stored_passage_view(stored, NULL));
  ember_stored_passage_free(NULL);
  BAD(ember_index_search(NULL, "cat", NULL, &r));
  BAD(ember_index_search(index, NULL, NULL, &r));
  BAD(ember_index_search(index, "cat", NULL, NULL));
  BAD(ember_index_search_vector(NULL, vec, WORDS_DIM, NULL, &r));
  BAD(ember_index_search_vector(index, NULL, WORDS_DIM, NULL, &r));
  BAD(ember_index_search_vector(index, vec, WORDS_DIM, NULL, NULL));
  CHECK(ember_search_results_len(NULL) == 0, "len of NULL");
  BAD(ember_search_results_hit(NULL, 0, &s, &f));
  BAD(ember_search_results_hit(results, 0, NULL, &f));
  BAD(ember_search_results_hit(results, 0, &s, NULL));
  BAD(ember_search_results_info(NULL, &(EmberSearchInfo){0}));
  BAD(ember_search_results_info(results, NULL));
  BAD(ember_search_results_reason(NULL, &s));
  BAD(ember_search_results_reason(results, NULL));
  ember_search_results_free(NULL);
  BAD(ember_cancellation_token_new(NULL));
  BAD(ember_cancellation_token_cancel(NULL));
  ember_cancellation_token_free(NULL);
  BAD(ember_index_add(NULL, &p, 1, NULL));
  BAD(ember_index_add(index, NULL, 1, NULL));
  OK(ember_index_add(index, NULL, 0, NULL)); /* nothing to add */
  BAD(ember_index_update(NULL, &p, 1, NULL));
  BAD(ember_index_update(index, NULL, 1, NULL));
  BAD(ember_index_delete(NULL, ids, 1, &n));
  BAD(ember_index_delete(index, NULL, 1, &n));
  BAD(ember_index_delete(index, ids, 1, NULL));
  BAD(ember_index_commit(NULL));
  BAD(ember_index_compact(NULL, NULL));
  BAD(ember_index_set_device_state(NULL, &(EmberDeviceState){50, 0, 0, 0}));
  BAD(ember_index_set_device_state(index, NULL));
  BAD(ember_index_materialize_vectors(NULL, EMBER_PRECISION_F16, NULL));
  BAD(ember_index_evict_vectors(NULL));
  BAD(ember_index_build_keywords(NULL, 1));
  BAD(ember_index_drop_keywords(NULL));
  /* NULL members of structs. */
  EmberPassage no_id = {NULL, "text"}, no_text = {"id", NULL};
  EmberPassage no_meta = {"id", "text", NULL, 2};
  EmberMetadataEntry null_key[] = {{NULL, INT(1)}}, null_str[] = {{"k", STR(NULL)}};
  EmberPassage bad_key = {"id", "text", null_key, 1}, bad_str = {"id", "text", null_str, 1};
  BAD(ember_index_add(index, &no_id, 1, NULL));
  BAD(ember_index_add(index, &no_text, 1, NULL));
  BAD(ember_index_add(index, &no_meta, 1, NULL));
  BAD(ember_index_add(index, &bad_key, 1, NULL));
  BAD(ember_index_add(index, &bad_str, 1, NULL));
  const char *null_ids[] = {"cat", NULL};
  BAD(ember_index_delete(index, null_ids, 2, &n));
  EmberTask null_task = {0};
  OK(ember_index_compact(index, &null_task));
  EmberIndexStats stats;
  OK(ember_index_stats(index, &stats));
  CHECK(stats.passages == NOTES_LEN, "failed calls changed the index: %llu", (unsigned long long)stats.passages);

  ember_cancellation_token_free(token);
  ember_stored_passage_free(stored);
  ember_search_results_free(results);
  ember_index_close(index);
  ember_embedder_free(words);
  return 0;
}

/* Closed, stale, foreign and doubly freed handles; wrong lengths; text that is not UTF-8. */
static int test_abuse(void) {
  EmberEmbedder *words = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, NULL, NULL, words_embed, NULL, &words));
  EmberIndex *index = NULL;
  OK(ember_index_create(path("abuse"), words, NOTES, NOTES_LEN, NULL, NULL, &index));
  EmberSearchResults *results = NULL;
  OK(ember_index_search(index, "cat", NULL, &results));

  /* Wrong lengths. */
  float vec[WORDS_DIM + 1] = {1};
  EmberSearchResults *r = NULL;
  EXPECT(ember_index_search_vector(index, vec, WORDS_DIM - 1, NULL, &r), EMBER_RESULT_DIMENSION_MISMATCH);
  EXPECT(ember_index_search_vector(index, vec, WORDS_DIM + 1, NULL, &r), EMBER_RESULT_DIMENSION_MISMATCH);
  EXPECT(ember_index_search_vector(index, vec, 0, NULL, &r), EMBER_RESULT_DIMENSION_MISMATCH);
  EXPECT(ember_embedder_embed(words, "x", EMBER_TEXT_KIND_QUERY, vec, WORDS_DIM + 1),
         EMBER_RESULT_DIMENSION_MISMATCH);
  EXPECT(ember_embedder_embed(words, "x", EMBER_TEXT_KIND_QUERY, vec, 0), EMBER_RESULT_DIMENSION_MISMATCH);
  vec[0] = 0.0f / 0.0f;
  BAD(ember_index_search_vector(index, vec, WORDS_DIM, NULL, &r)); /* NaN */
  const char *id = NULL;
  float score = 0;
  BAD(ember_search_results_hit(results, (size_t)-1, &id, &score));
  BAD(ember_search_results_hit(results, ember_search_results_len(results), &id, &score));
  EmberPassage dup[] = {{"a", "one"}, {"a", "two"}};
  BAD(ember_index_add(index, dup, 2, NULL)); /* the same id twice in one call */
  EmberMetadataEntry twice[] = {{"k", INT(1)}, {"k", INT(2)}};
  EmberMetadataEntry nan[] = {{"k", {.kind = EMBER_VALUE_KIND_FLOAT, .float_value = 0.0 / 0.0}}};
  EmberMetadataEntry kind[] = {{"k", {.kind = 42}}};
  EmberMetadataEntry empty_key[] = {{"", INT(1)}};
  EmberPassage meta_bad[] = {{"m", "t", twice, 2}, {"m", "t", nan, 1}, {"m", "t", kind, 1}, {"m", "t", empty_key, 1}};
  for (size_t i = 0; i < 4; i++) BAD(ember_index_add(index, &meta_bad[i], 1, NULL));
  char long_id[2048];
  memset(long_id, 'x', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = 0;
  EmberPassage too_long = {long_id, "text"};
  BAD(ember_index_add(index, &too_long, 1, NULL));
  EmberIndexOptions io;
  OK(ember_index_options_default(&io));
  io.vectors = 7;
  BAD(ember_index_create(path("abuse2"), words, NOTES, NOTES_LEN, &io, NULL, &(EmberIndex *){0}));
  io.vectors = EMBER_VECTOR_STORAGE_NONE;
  io.embed_chunk = 0;
  BAD(ember_index_create(path("abuse2"), words, NOTES, NOTES_LEN, &io, NULL, &(EmberIndex *){0}));
  EmberOpenOptions oo;
  OK(ember_open_options_default(&oo));
  oo.durability = 9;
  BAD(ember_index_open(path("abuse"), words, &oo, &(EmberIndex *){0}));

  /* Text that is not UTF-8, in every string argument. */
  const char *bad = "caf\xc3\x28 \xff";
  EmberPassage bad_text = {"u1", bad}, bad_id = {bad, "text"};
  EmberMetadataEntry bad_meta_key[] = {{bad, INT(1)}}, bad_meta_str[] = {{"k", STR(bad)}};
  EmberPassage bad_mk = {"u2", "t", bad_meta_key, 1}, bad_ms = {"u3", "t", bad_meta_str, 1};
  BAD(ember_index_add(index, &bad_text, 1, NULL));
  CHECK(strstr(ember_last_error_message(), "UTF-8") != NULL, "message %s", ember_last_error_message());
  BAD(ember_index_add(index, &bad_id, 1, NULL));
  BAD(ember_index_add(index, &bad_mk, 1, NULL));
  BAD(ember_index_add(index, &bad_ms, 1, NULL));
  BAD(ember_index_update(index, &bad_text, 1, NULL));
  BAD(ember_index_search(index, bad, NULL, &r));
  EmberSearchOptions so;
  OK(ember_search_options_default(&so));
  so.filter = bad;
  BAD(ember_index_search(index, "cat", &so, &r));
  const char *bad_ids[] = {bad};
  BAD(ember_index_delete(index, bad_ids, 1, &(size_t){0}));
  BAD(ember_index_get(index, bad, &(EmberStoredPassage *){0}));
  BAD(ember_index_open(bad, words, NULL, &(EmberIndex *){0}));
  BAD(ember_index_create(bad, words, NOTES, 1, NULL, NULL, &(EmberIndex *){0}));
  BAD(ember_embedder_new_onnx(bad, NULL, &(EmberEmbedder *){0}));
  BAD(ember_embedder_new_callback(bad, WORDS_DIM, NULL, NULL, words_embed, NULL, &(EmberEmbedder *){0}));
  BAD(ember_embedder_new_callback("x", WORDS_DIM, bad, NULL, words_embed, NULL, &(EmberEmbedder *){0}));
  BAD(ember_embedder_embed(words, bad, EMBER_TEXT_KIND_QUERY, vec, WORDS_DIM));

  /* Foreign and garbage handles: a handle of another kind, a made-up value. */
  BAD(ember_index_commit((EmberIndex *)words));
  BAD(ember_index_search((EmberIndex *)results, "cat", NULL, &r));
  BAD(ember_embedder_dim((EmberEmbedder *)index, &(size_t){0}));
  CHECK(ember_search_results_len((EmberSearchResults *)index) == 0, "len of an index handle");
  BAD(ember_index_commit((EmberIndex *)(uintptr_t)0x12345678));
  BAD(ember_index_stats((EmberIndex *)(uintptr_t)-1, &(EmberIndexStats){0}));
  ember_index_close((EmberIndex *)words); /* ignored: not an index */
  ember_search_results_free((EmberSearchResults *)index);
  ember_embedder_free((EmberEmbedder *)(uintptr_t)0xdeadbeef);
  OK(ember_index_commit(index)); /* all of that left the real handles alone */
  CHECK(ember_search_results_len(results) > 0, "results survived");

  /* Freed results: a typed error, and a second free is ignored. */
  ember_search_results_free(results);
  CHECK(ember_search_results_len(results) == 0, "len of freed results");
  BAD(ember_search_results_hit(results, 0, &id, &score));
  ember_search_results_free(results);

  /* Closed index: every call is EMBER_RESULT_CLOSED; close twice is ignored. */
  EmberPassage p = {"late", "too late"};
  const char *ids[] = {"cat"};
  ember_index_close(index);
  ember_index_close(index);
  EXPECT(ember_index_search(index, "cat", NULL, &r), EMBER_RESULT_CLOSED);
  CHECK(r == NULL, "no results from a closed index");
  EXPECT(ember_index_search_vector(index, vec, WORDS_DIM, NULL, &r), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_add(index, &p, 1, NULL), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_update(index, &p, 1, NULL), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_delete(index, ids, 1, &(size_t){0}), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_commit(index), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_compact(index, NULL), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_get(index, "cat", &(EmberStoredPassage *){0}), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_stats(index, &(EmberIndexStats){0}), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_model_id(index, &id), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_set_device_state(index, &(EmberDeviceState){50, 0, 0, 0}), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_materialize_vectors(index, EMBER_PRECISION_F16, NULL), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_evict_vectors(index), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_build_keywords(index, 1), EMBER_RESULT_CLOSED);
  EXPECT(ember_index_drop_keywords(index), EMBER_RESULT_CLOSED);
  CHECK(strstr(ember_last_error_message(), "closed") != NULL, "message %s", ember_last_error_message());

  /* A freed embedder: a typed error; an index built with it keeps working. */
  OK(ember_index_open(path("abuse"), words, NULL, &index));
  ember_embedder_free(words);
  ember_embedder_free(words);
  BAD(ember_embedder_dim(words, &(size_t){0}));
  BAD(ember_index_open(path("abuse"), words, NULL, &(EmberIndex *){0}));
  char top[64];
  OK(top_hit(index, "feed the cat", NULL, top, sizeof top));
  CHECK(strcmp(top, "cat") == 0, "top %s", top);
  ember_index_close(index);
  return 0;
}

/* Threads: searches on several threads while one adds; then close racing with searches. */
enum { SEARCHERS = 8, ADDS = 12 };
struct shared {
  EmberIndex *index;
  int stop;            /* phase 1: search until set */
  int until_closed;    /* phase 2: search until EMBER_RESULT_CLOSED */
  int searches, closed, unexpected;
  pthread_mutex_t lock;
};

static void *searcher(void *arg) {
  struct shared *sh = arg;
  for (;;) {
    EmberSearchResults *r = NULL;
    EmberResult code = ember_index_search(sh->index, "feed the cat", NULL, &r);
    int ok = code == EMBER_RESULT_OK && ember_search_results_len(r) > 0;
    ember_search_results_free(r);
    pthread_mutex_lock(&sh->lock);
    sh->searches += ok;
    sh->closed += code == EMBER_RESULT_CLOSED;
    sh->unexpected += !ok && !(code == EMBER_RESULT_CLOSED && sh->until_closed);
    int done = sh->until_closed ? code != EMBER_RESULT_OK : sh->stop || !ok;
    pthread_mutex_unlock(&sh->lock);
    if (done) return NULL;
  }
}

static int searches_so_far(struct shared *sh) {
  pthread_mutex_lock(&sh->lock);
  int n = sh->searches;
  pthread_mutex_unlock(&sh->lock);
  return n;
}

static int test_threads(void) {
  EmberEmbedder *words = NULL;
  OK(ember_embedder_new_callback("c-words-32", WORDS_DIM, NULL, NULL, words_embed, NULL, &words));
  struct shared sh = {.lock = PTHREAD_MUTEX_INITIALIZER};
  OK(ember_index_create(path("threads"), words, NOTES, NOTES_LEN, NULL, NULL, &sh.index));
  pthread_t t[SEARCHERS];
  for (int i = 0; i < SEARCHERS; i++) CHECK(pthread_create(&t[i], NULL, searcher, &sh) == 0, "thread %d", i);
  for (int i = 0; i < ADDS; i++) {
    char id[32], text[64];
    snprintf(id, sizeof id, "extra-%d", i);
    snprintf(text, sizeof text, "Extra note number %d about the garden", i);
    EmberPassage p = {id, text};
    OK(ember_index_add(sh.index, &p, 1, NULL));
  }
  pthread_mutex_lock(&sh.lock);
  sh.stop = 1;
  pthread_mutex_unlock(&sh.lock);
  for (int i = 0; i < SEARCHERS; i++) pthread_join(t[i], NULL);
  CHECK(sh.unexpected == 0 && sh.closed == 0 && sh.searches >= SEARCHERS, "searches %d closed %d unexpected %d",
        sh.searches, sh.closed, sh.unexpected);
  EmberIndexStats stats;
  OK(ember_index_stats(sh.index, &stats));
  CHECK(stats.passages == NOTES_LEN + ADDS, "passages %llu", (unsigned long long)stats.passages);

  /* Close while searches run: each search returns hits or EMBER_RESULT_CLOSED. */
  sh.searches = 0;
  sh.until_closed = 1;
  for (int i = 0; i < SEARCHERS; i++) CHECK(pthread_create(&t[i], NULL, searcher, &sh) == 0, "thread %d", i);
  while (searches_so_far(&sh) < SEARCHERS) sched_yield();
  ember_index_close(sh.index);
  for (int i = 0; i < SEARCHERS; i++) pthread_join(t[i], NULL);
  CHECK(sh.unexpected == 0 && sh.closed == SEARCHERS, "after close: closed %d of %d, unexpected %d", sh.closed,
        SEARCHERS, sh.unexpected);
  /* Every search has returned, so the files are released: the index opens for writing again. */
  OK(ember_index_open(path("threads"), words, NULL, &sh.index));
  ember_index_close(sh.index);
  ember_embedder_free(words);
  return 0;
}

static int test_readme(void) {
  char top[64] = "";
  CHECK(readme_example(model_dir, path("readme"), top, sizeof top) == 0, "readme example");
  CHECK(strcmp(top, "battery") == 0, "top %s", top);
  return 0;
}

static void run(const char *name, int (*test)(void)) {
  if (test() == 0) {
    passed++;
    printf("ok   %s\n", name);
  } else {
    failed++;
    printf("FAIL %s\n", name);
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL_DIR SCRATCH_DIR EXPECTED_VERSION\n", argv[0]);
    return 2;
  }
  model_dir = argv[1];
  scratch = argv[2];
  expected_version = argv[3];
  run("version", test_version);
  run("NULL arguments and missing files", test_null_and_missing);
  run("corrupt index", test_corrupt);
  run("ONNX model: build, search, reopen", test_onnx);
  run("C callback embedder", test_callback_embedder);
  run("app-held text: a C text source, changed text caught", test_text_source);
  run("living index: metadata, filter, add, update, delete, get, commit, reopen, compact, typed errors",
      test_living);
  run("device state and stored vectors", test_device_and_vectors);
  run("keyword and hybrid search", test_keywords);
  run("cancellation leaves the index as it was", test_cancellation);
  run("NULL for every pointer argument", test_null_everywhere);
  run("abuse: lengths, non-UTF-8, foreign, stale and closed handles", test_abuse);
  run("threads: searches while adding, close racing searches", test_threads);
  run("README snippet", test_readme);
  printf("c: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
