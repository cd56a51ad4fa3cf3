/* Arbitrary bytes -> encode + decode with small fixed tokenizers built from
 * inline JSON. Properties checked (abort on violation):
 *  - byte-level BPE without normalizer: decode(encode(x)) is x with invalid
 *    UTF-8 replaced by U+FFFD (nothing lost, nothing added);
 *  - the stream decoder, fed id by id, yields exactly the whole decode;
 *  - encoding through the caches gives the same ids as without. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "token/tok_internal.h"
#include "token/tok_tokenizer.h"

static smg_tok_t *bl, *sp;
static smg_tok_cache_t *cache;

static void add_str(smg_buf_t *b, const char *s) {
    if (smg_buf_append_c(b, s))
        abort();
}

static smg_tok_t *build_bytelevel(void) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    add_str(&b, "{\"added_tokens\":[{\"id\":300,\"content\":\"<|im_start|>\",\"special\":true,"
                "\"normalized\":false},{\"id\":301,\"content\":\"<t>\",\"special\":false,"
                "\"normalized\":true}],"
                "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                "\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?"
                "\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
                "\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":"
                "\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
                "\"decoder\":{\"type\":\"ByteLevel\"},"
                "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                "{\"id\":\"<|im_start|>\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{"
                "\"<|im_start|>\":{\"ids\":[300]}}},"
                "\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{");
    for (int i = 0; i < 256; i++) {
        char u[8];
        size_t k = smg_utf8_put(smg__tok_byte_to_cp((uint8_t)i), u);
        u[k] = 0;
        if (smg_buf_appendf(&b, "%s\"", i ? "," : "") || smg_buf_append_json_escaped(&b, smg_str(u, k)) ||
            smg_buf_appendf(&b, "\":%d", i))
            abort();
    }
    add_str(&b, ",\"\xC4\xA0t\":256,\"he\":257,\"\xC4\xA0the\":258,\"in\":259,\"\xC4\xA0\xC4\xA0\":260}"
                ",\"merges\":[\"\xC4\xA0 t\",\"h e\",\"\xC4\xA0t he\",\"i n\",\"\xC4\xA0 \xC4\xA0\"]}}");
    smg_tok_t *t = NULL;
    char err[256];
    if (smg_tok_load_json(b.ptr, b.len, "inline-bytelevel", &t, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    smg_buf_free(&b);
    return t;
}

static smg_tok_t *build_sp(void) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    add_str(&b, "{\"added_tokens\":[{\"id\":1,\"content\":\"<s>\",\"special\":true},"
                "{\"id\":7,\"content\":\"<x>\",\"lstrip\":true,\"rstrip\":true},"
                "{\"id\":8,\"content\":\"ab\",\"single_word\":true}],"
                "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":"
                "\"Prepend\",\"prepend\":\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{"
                "\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]},"
                "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{"
                "\"String\":\"\xE2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":"
                "\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
                "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
                "\"byte_fallback\":true,\"vocab\":{\"<unk>\":0,\"<s>\":1,\"\xE2\x96\x81\":2,\"a\":3,"
                "\"b\":4,\"ab\":5,\"\xE2\x96\x81" "a\":6,\"<x>\":7,\"x\":9");
    for (int i = 0; i < 200; i++) /* byte pieces for most bytes: some fall to <unk> */
        if (smg_buf_appendf(&b, ",\"<0x%02X>\":%d", i, 10 + i))
            abort();
    add_str(&b, "},\"merges\":[\"a b\",\"\xE2\x96\x81 a\"]}}");
    smg_tok_t *t = NULL;
    char err[256];
    if (smg_tok_load_json(b.ptr, b.len, "inline-sp", &t, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    smg_buf_free(&b);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    bl = build_bytelevel();
    sp = build_sp();
    smg_tok_cache_opts_t o = {.exact_max_bytes = 1 << 16, .prefix_max_bytes = 1 << 16};
    if (smg_tok_cache_new(bl, &o, &cache))
        abort();
    return 0;
}

static char *decode(smg_tok_t *t, const smg_tok_ids_t *ids, bool skip, size_t *n) {
    char *out = NULL;
    if (smg_tok_decode(t, ids->ids, ids->len, skip, &out, n))
        abort();
    return out;
}

static void check_stream(smg_tok_t *t, const smg_tok_ids_t *ids, bool skip) {
    size_t wl;
    char *whole = decode(t, ids, skip, &wl);
    smg_tok_stream_t *st;
    if (smg_tok_stream_new(t, skip, &st))
        abort();
    smg_buf_t acc;
    smg_buf_init(&acc, 0);
    const char *p;
    size_t l;
    for (size_t i = 0; i < ids->len; i++) {
        if (smg_tok_stream_step(st, ids->ids[i], &p, &l) || smg_buf_append(&acc, p, l))
            abort();
    }
    if (smg_tok_stream_finish(st, &p, &l) || smg_buf_append(&acc, p, l))
        abort();
    if (acc.len != wl || (wl && memcmp(acc.ptr, whole, wl) != 0)) {
        fprintf(stderr, "stream/whole mismatch (skip=%d):\n  whole  %zu \"%.*s\"\n  stream %zu \"%.*s\"\n",
                skip, wl, (int)wl, whole, acc.len, (int)acc.len, acc.ptr ? acc.ptr : "");
        abort();
    }
    smg_tok_stream_free(st);
    smg_buf_free(&acc);
    free(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    smg_tok_ids_t ids = {0}, cached = {0};
    /* byte-level round trip */
    if (smg_tok_encode(bl, s, size, false, &ids))
        abort();
    size_t n;
    char *text = decode(bl, &ids, false, &n);
    smg_buf_t want;
    smg_buf_init(&want, 0);
    if (smg__tok_utf8_lossy(s, size, &want))
        abort();
    if (n != want.len || (n && memcmp(text, want.ptr, n) != 0))
        abort();
    free(text);
    smg_buf_free(&want);
    check_stream(bl, &ids, false);
    check_stream(bl, &ids, true);
    if (smg_tok_encode_cached(bl, cache, s, size, false, &cached) || cached.len != ids.len ||
        (ids.len && memcmp(cached.ids, ids.ids, ids.len * 4) != 0))
        abort();
    smg_tok_ids_free(&ids);
    smg_tok_ids_free(&cached);
    /* SentencePiece-style: must not fault; stream equals whole decode */
    if (smg_tok_encode(sp, s, size, true, &ids) == SMG_OK) {
        check_stream(sp, &ids, false);
        check_stream(sp, &ids, true);
    }
    smg_tok_ids_free(&ids);
    return 0;
}
