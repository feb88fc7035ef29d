/* ember_search: build or search an Ember index from C, for a small Linux box.
 *
 *   ember_search MODEL_DIR INDEX_DIR build CORPUS.tsv     (one "id<TAB>text" passage per line)
 *   ember_search MODEL_DIR INDEX_DIR search "QUERY" [K]   (prints "rank<TAB>id<TAB>score" lines)
 *
 * Build: cc -Iffi/include ember_search.c -Ltarget/release -lember_ffi            (shared)
 *    or: cc -Iffi/include ember_search.c target/release/libember_ffi.a -lpthread -ldl -lm \
 *          -Wl,-z,noexecstack  (static; tract's assembly objects carry no stack note)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember.h"

static int fail(const char *what) {
  fprintf(stderr, "ember_search: %s: %s\n", what, ember_last_error_message());
  return 1;
}

/* Read "id<TAB>text" lines; returns the passage count or -1. Strings point into *buf. */
static long read_corpus(const char *path, char **buf, EmberPassage **passages) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16, len = 0;
  *buf = malloc(cap + 1);
  for (size_t n; *buf && (n = fread(*buf + len, 1, cap - len, f)) > 0;) {
    len += n;
    if (len == cap) *buf = realloc(*buf, (cap *= 2) + 1);
  }
  fclose(f);
  if (!*buf) return -1;
  (*buf)[len] = '\0';
  long count = 0;
  for (size_t i = 0; i < len; i++) count += (*buf)[i] == '\n';
  *passages = calloc((size_t)count + 1, sizeof **passages);
  long n = 0;
  for (char *line = *buf, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    (*passages)[n].id = line;
    (*passages)[n].text = tab + 1;
    n++;
  }
  return n;
}

static void on_progress(void *data, size_t done, size_t total) {
  (void)data;
  fprintf(stderr, "\rembedded %zu/%zu", done, total);
  if (done == total) fputc('\n', stderr);
}

int main(int argc, char **argv) {
  if (argc < 5 || (strcmp(argv[3], "build") != 0 && strcmp(argv[3], "search") != 0)) {
    fprintf(stderr, "usage: %s MODEL_DIR INDEX_DIR build CORPUS.tsv | search QUERY [K]\n", argv[0]);
    return 2;
  }
  EmberEmbedder *embedder = NULL;
  if (ember_embedder_new_onnx(argv[1], NULL, &embedder) != EMBER_RESULT_OK) return fail("loading the model");

  int status = 0;
  EmberIndex *index = NULL;
  if (strcmp(argv[3], "build") == 0) {
    char *buf = NULL;
    EmberPassage *passages = NULL;
    long n = read_corpus(argv[4], &buf, &passages);
    if (n < 0) {
      fprintf(stderr, "ember_search: cannot read %s\n", argv[4]);
      status = 1;
    } else if (ember_index_create(argv[2], embedder, passages, (size_t)n, NULL,
                                  &(EmberTask){.progress = on_progress}, &index) != EMBER_RESULT_OK) {
      status = fail("building the index");
    } else {
      EmberIndexStats stats;
      ember_index_stats(index, &stats);
      printf("indexed %llu passages: %llu index bytes for %llu text bytes\n", (unsigned long long)stats.passages,
             (unsigned long long)stats.index_bytes, (unsigned long long)stats.text_bytes);
    }
    free(passages);
    free(buf);
  } else {
    EmberSearchOptions options;
    ember_search_options_default(&options);
    if (argc > 5) options.k = (uint32_t)strtoul(argv[5], NULL, 10);
    EmberSearchResults *results = NULL;
    /* Read-only: searches run beside a process that writes the index. */
    EmberOpenOptions open;
    ember_open_options_default(&open);
    open.read_only = 1;
    if (ember_index_open(argv[2], embedder, &open, &index) != EMBER_RESULT_OK) {
      status = fail("opening the index");
    } else if (ember_index_search(index, argv[4], &options, &results) != EMBER_RESULT_OK) {
      status = fail("searching");
    } else {
      for (size_t i = 0; i < ember_search_results_len(results); i++) {
        const char *id;
        float score;
        if (ember_search_results_hit(results, i, &id, &score) == EMBER_RESULT_OK)
          printf("%zu\t%s\t%.4f\n", i + 1, id, score);
      }
      ember_search_results_free(results);
    }
  }
  ember_index_close(index);
  ember_embedder_free(embedder);
  return status;
}
