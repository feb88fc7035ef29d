/* Smoke test of the C ABI through ffi/include/ember.h: the ONNX model, a C callback embedder,
 * typed result codes for bad input, and the README's C snippet (readme_snippet.c, cut from
 * README.md by scripts/test-bindings.sh). Built for x86_64 and aarch64 (run under qemu).
 * Usage: test_ember MODEL_DIR SCRATCH_DIR EXPECTED_VERSION. Prints "c: N passed, N failed". */
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

static const char *path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", scratch, name);
  return buf;
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

static int test_version(void) {
  CHECK(strcmp(ember_version(), expected_version) == 0, "version %s", ember_version());
  return 0;
}

static int test_null_and_missing(void) {
  EmberIndex *index = (EmberIndex *)1;
  CHECK(ember_index_open(NULL, NULL, &index) == EMBER_RESULT_INVALID_ARGUMENT, "NULL dir");
  CHECK(index == NULL, "out-parameter not reset");
  CHECK(strstr(ember_last_error_message(), "dir") != NULL, "message names the argument");
  CHECK(ember_index_open("x", NULL, NULL) == EMBER_RESULT_INVALID_ARGUMENT, "NULL out");
  CHECK(ember_search_results_len(NULL) == 0, "NULL results");
  ember_index_close(NULL);
  ember_search_results_free(NULL);
  ember_embedder_free(NULL);

  EmberEmbedder *embedder = NULL;
  CHECK(ember_embedder_new_onnx(path("no-model"), NULL, &embedder) == EMBER_RESULT_NOT_FOUND, "missing model");
  CHECK(embedder == NULL, "no handle on failure");
  CHECK(ember_index_open(path("no-index"), NULL, &index) == EMBER_RESULT_NOT_FOUND, "missing index");
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
  CHECK(ember_index_open(path("corrupt"), NULL, &index) == EMBER_RESULT_CORRUPT, "corrupt index");
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
  CHECK(ember_embedder_new_onnx(model_dir, NULL, &embedder) == EMBER_RESULT_OK, "load model");
  size_t dim = 0;
  CHECK(ember_embedder_dim(embedder, &dim) == EMBER_RESULT_OK && dim == 384, "dim %zu", dim);

  EmberIndexOptions options;
  ember_index_options_default(&options);
  options.embed_chunk = 2;
  EmberIndex *index = NULL;
  CHECK(ember_index_create(path("onnx"), embedder, NOTES, NOTES_LEN, &options, on_progress, NULL, &index) ==
            EMBER_RESULT_OK,
        "create");
  CHECK(progress_calls == 3 && progress_last == NOTES_LEN, "progress %zu calls, last %zu", progress_calls,
        progress_last);

  EmberSearchOptions search;
  ember_search_options_default(&search);
  search.k = 3;
  search.mode = EMBER_MODE_RECOMPUTE;
  EmberSearchResults *results = NULL;
  CHECK(ember_index_search(index, "where do I get batteries for my flashlight", &search, &results) ==
            EMBER_RESULT_OK,
        "search");
  CHECK(ember_search_results_len(results) == 3, "hits %zu", ember_search_results_len(results));
  const char *id = NULL;
  float score = 0;
  CHECK(ember_search_results_hit(results, 0, &id, &score) == EMBER_RESULT_OK, "hit 0");
  CHECK(strcmp(id, "battery") == 0 && score > 0.3f, "top hit %s %f", id, score);
  CHECK(ember_search_results_hit(results, 3, &id, &score) == EMBER_RESULT_INVALID_ARGUMENT, "hit 3");
  EmberSearchInfo info;
  CHECK(ember_search_results_info(results, &info) == EMBER_RESULT_OK, "info");
  CHECK(info.mode == EMBER_MODE_RECOMPUTE && info.reembedded > 0, "mode %u reembedded %llu", (unsigned)info.mode,
        (unsigned long long)info.reembedded);
  ember_search_results_free(results);

  EmberIndexStats stats;
  CHECK(ember_index_stats(index, &stats) == EMBER_RESULT_OK, "stats");
  CHECK(stats.passages == NOTES_LEN && stats.dim == 384, "stats %llu %llu", (unsigned long long)stats.passages,
        (unsigned long long)stats.dim);

  float wrong[3] = {1, 0, 0};
  CHECK(ember_index_search_vector(index, wrong, 3, NULL, &results) == EMBER_RESULT_DIMENSION_MISMATCH,
        "wrong dimension");
  CHECK(results == NULL, "no results on failure");
  search.k = 0;
  CHECK(ember_index_search(index, "cat", &search, &results) == EMBER_RESULT_INVALID_ARGUMENT, "k = 0");
  search.k = 3;
  search.mode = 99;
  CHECK(ember_index_search(index, "cat", &search, &results) == EMBER_RESULT_INVALID_ARGUMENT, "bad mode");
  ember_index_close(index);

  /* Reopen with the embedder (freed early: the index keeps its own reference). */
  CHECK(ember_index_open(path("onnx"), embedder, &index) == EMBER_RESULT_OK, "reopen");
  ember_embedder_free(embedder);
  float query[384];
  EmberEmbedder *again = NULL;
  CHECK(ember_embedder_new_onnx(model_dir, NULL, &again) == EMBER_RESULT_OK, "reload model");
  CHECK(ember_embedder_embed(again, "cooking spaghetti", query, 10) == EMBER_RESULT_DIMENSION_MISMATCH, "short buf");
  CHECK(ember_embedder_embed(again, "cooking spaghetti", query, 384) == EMBER_RESULT_OK, "embed");
  ember_embedder_free(again);
  CHECK(ember_index_search_vector(index, query, 384, NULL, &results) == EMBER_RESULT_OK, "vector search");
  CHECK(ember_search_results_hit(results, 0, &id, &score) == EMBER_RESULT_OK && strcmp(id, "pasta") == 0,
        "top hit %s", id);
  ember_search_results_free(results);
  ember_index_close(index);
  return 0;
}

/* A model-free embedder in C: hashed bag of words, as an accelerator would plug in. */
enum { WORDS_DIM = 32 };
static int words_embed(void *data, const char *const *texts, size_t texts_len, float *out, size_t out_len) {
  int *calls = data;
  (*calls)++;
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
  }
  return 0;
}
static int failing_embed(void *data, const char *const *texts, size_t n, float *out, size_t len) {
  (void)data, (void)texts, (void)n, (void)out, (void)len;
  return 7;
}

static int test_callback_embedder(void) {
  int calls = 0;
  EmberEmbedder *words = NULL;
  CHECK(ember_embedder_new_callback("c-words-32", WORDS_DIM, words_embed, &calls, &words) == EMBER_RESULT_OK,
        "callback embedder");
  EmberIndex *index = NULL;
  CHECK(ember_index_create(path("words"), words, NOTES, NOTES_LEN, NULL, NULL, NULL, &index) == EMBER_RESULT_OK,
        "create");
  CHECK(calls > 0, "callback not called");
  EmberSearchResults *results = NULL;
  CHECK(ember_index_search(index, "feed the cat", NULL, &results) == EMBER_RESULT_OK, "search");
  const char *id = NULL;
  float score = 0;
  CHECK(ember_search_results_hit(results, 0, &id, &score) == EMBER_RESULT_OK && strcmp(id, "cat") == 0, "top %s",
        id);
  ember_search_results_free(results);
  ember_index_close(index);

  /* The ONNX-built index refuses this model. */
  CHECK(ember_index_open(path("onnx"), words, &index) == EMBER_RESULT_MODEL_MISMATCH, "model mismatch");
  ember_embedder_free(words);

  EmberEmbedder *failing = NULL;
  CHECK(ember_embedder_new_callback("failing", 8, failing_embed, NULL, &failing) == EMBER_RESULT_OK, "failing");
  CHECK(ember_index_create(path("failing"), failing, NOTES, NOTES_LEN, NULL, NULL, NULL, &index) ==
            EMBER_RESULT_INTERNAL,
        "callback failure");
  CHECK(strstr(ember_last_error_message(), "returned 7") != NULL, "message %s", ember_last_error_message());
  ember_embedder_free(failing);
  CHECK(ember_embedder_new_callback("x", 0, words_embed, NULL, &failing) == EMBER_RESULT_INVALID_ARGUMENT, "dim 0");
  CHECK(ember_embedder_new_callback("x", 8, NULL, NULL, &failing) == EMBER_RESULT_INVALID_ARGUMENT, "NULL fn");
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
  run("README snippet", test_readme);
  printf("c: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
