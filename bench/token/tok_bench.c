/* Encode throughput of smg's tokenizer, one thread: loads a model directory,
 * reads JSON-string lines (a corpus), repeats them to about TARGET bytes and
 * encodes every line. Prints one JSON object:
 * {"bytes":..,"tokens":..,"seconds":..,"load_seconds":..,"rss_kb":..} where
 * rss_kb is the RSS growth from loading the tokenizer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token/tok_tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tok_bench MODEL_DIR CORPUS.jsonl [TARGET_BYTES]\n");
        return 2;
    }
    size_t target = argc > 3 ? strtoull(argv[3], NULL, 10) : 5u << 20;
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char **lines = NULL;
    size_t *lens = NULL, n = 0, cap = 0, total = 0;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t got;
    while ((got = getline(&buf, &bcap, f)) > 0) {
        json_t *v = json_loadb(buf, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (json_is_string(v)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                lines = realloc(lines, cap * sizeof *lines);
                lens = realloc(lens, cap * sizeof *lens);
            }
            lens[n] = json_string_length(v);
            lines[n] = malloc(lens[n] + 1);
            memcpy(lines[n], json_string_value(v), lens[n]);
            total += lens[n];
            n++;
        }
        json_decref(v);
    }
    free(buf);
    fclose(f);
    if (!n || !total)
        return 1;
    long rss0 = rss_kb();
    double t0 = now();
    smg_tok_t *tok;
    char err[512];
    if (smg_tok_load_dir(argv[1], &tok, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double load = now() - t0;
    long rss1 = rss_kb();
    size_t reps = (target + total - 1) / total;
    smg_tok_ids_t ids = {0};
    size_t tokens = 0, bytes = 0;
    double t1 = now();
    for (size_t r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i++) {
            ids.len = 0;
            if (smg_tok_encode(tok, lines[i], lens[i], false, &ids)) {
                fprintf(stderr, "encode failed\n");
                return 1;
            }
            tokens += ids.len;
            bytes += lens[i];
        }
    double secs = now() - t1;
    printf("{\"bytes\":%zu,\"tokens\":%zu,\"seconds\":%.6f,\"load_seconds\":%.3f,\"rss_kb\":%ld}\n",
           bytes, tokens, secs, load, rss1 - rss0);
    smg_tok_ids_free(&ids);
    smg_tok_free(tok);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(lens);
    return 0;
}
