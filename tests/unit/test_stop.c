/* Stop matcher: every text is fed split at every chunk boundary (two chunks),
 * in 1-byte chunks and in pseudo-random chunkings; the emitted text must
 * equal the reference cut (computed on the whole text) and the stop must be
 * reported exactly once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "token/stop.h"
#include "unit.h"

typedef struct {
    const char *text;
    const char *stops[4];
    bool visible[4];
} case_t;

/* Reference: earliest-ending occurrence (ties: earliest start, lowest index). */
static void reference(const case_t *k, size_t *cut, int *which) {
    size_t n = strlen(k->text), best_end = SIZE_MAX, best_start = 0;
    int best = -1;
    for (int i = 0; i < 4 && k->stops[i]; i++) {
        size_t L = strlen(k->stops[i]);
        for (size_t st = 0; st + L <= n; st++) {
            if (memcmp(k->text + st, k->stops[i], L) == 0) {
                if (st + L < best_end || (st + L == best_end && st < best_start)) {
                    best_end = st + L;
                    best_start = st;
                    best = i;
                }
                break;
            }
        }
    }
    *which = best;
    *cut = best < 0 ? n : k->visible[best] ? best_end : best_start;
}

static bool utf8_whole(const char *p, size_t n) {
    /* true when p[0..n) does not end inside a multi-byte character and does not start with a
     * continuation byte */
    if (n && ((unsigned char)p[0] & 0xC0) == 0x80)
        return false;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (i + need > n)
            return false;
        i += need;
    }
    return true;
}

/* Feed `text` in chunks whose lengths come from `sizes` (cycled). */
static void run(const case_t *k, const size_t *sizes, size_t nsizes) {
    smg_stop_str_t ss[4];
    size_t ns = 0;
    for (; ns < 4 && k->stops[ns]; ns++)
        ss[ns] = (smg_stop_str_t){k->stops[ns], strlen(k->stops[ns]), k->visible[ns]};
    smg_stop_t *m;
    EXPECT_EQ_INT(smg_stop_new(ss, ns, NULL, 0, 0, &m), SMG_OK);
    smg_buf_t got;
    smg_buf_init(&got, 0);
    size_t n = strlen(k->text), pos = 0, si = 0;
    int stops = 0, which = -1;
    smg_stop_result_t r;
    while (pos < n) {
        size_t c = sizes[si++ % nsizes];
        if (c > n - pos)
            c = n - pos;
        EXPECT_EQ_INT(smg_stop_feed(m, k->text + pos, c, -1, &r), SMG_OK);
        pos += c;
        EXPECT(utf8_whole(r.emit, r.emit_len));
        EXPECT(smg_buf_append(&got, r.emit, r.emit_len) == SMG_OK);
        if (r.stopped && r.stop_str >= 0) {
            stops++;
            which = r.stop_str;
        }
    }
    EXPECT_EQ_INT(smg_stop_finish(m, &r), SMG_OK);
    EXPECT(smg_buf_append(&got, r.emit, r.emit_len) == SMG_OK);
    size_t cut;
    int want;
    reference(k, &cut, &want);
    EXPECT_EQ_INT(stops, want >= 0 ? 1 : 0);
    EXPECT_EQ_INT(which, want);
    if (got.len != cut || memcmp(got.ptr, k->text, cut) != 0) {
        fprintf(stderr, "  text \"%s\" chunk0 %zu: got \"%.*s\" want \"%.*s\"\n", k->text,
                sizes[0], (int)got.len, got.ptr, (int)cut, k->text);
        unit_fail_at(__FILE__, __LINE__);
    }
    smg_buf_free(&got);
    smg_stop_free(m);
}

static const case_t CASES[] = {
    {"Hello world</s> tail", {"</s>"}, {false}},
    {"Hello world</s> tail", {"</s>"}, {true}},
    {"no stop here at all", {"STOP", "zzz"}, {false, false}},
    {"abcabcabd", {"abd"}, {false}},
    {"aaaaab", {"aab"}, {true}},
    {"prefix <|im_end|> more <|im_end|>", {"<|im_end|>", "<|endoftext|>"}, {false, true}},
    {"x <|endo <|endoftext|>", {"<|im_end|>", "<|endoftext|>"}, {false, true}},
    {"abcd", {"abcd", "bc"}, {false, false}},
    {"abcd", {"bcd", "abcd"}, {true, true}},
    {"ends with partial <|im_e", {"<|im_end|>"}, {false}},
    {"unicode 日本語テキスト停止ここ", {"停止"}, {false}},
    {"emoji 👋🏽 then STOP🙂", {"STOP🙂"}, {true}},
    {"café au lait", {"é a"}, {false}},
    {"multi\n\nline\n\nUser:", {"\n\nUser:", "\n\n"}, {false, false}},
    {"", {"x"}, {false}},
    {"stop", {"stop"}, {false}},
    {"repeat repeat", {"eat r", "t re"}, {false, true}},
    {"日本語", {"本"}, {true}},
};

TEST(stop_every_split_point) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        size_t n = strlen(CASES[i].text);
        for (size_t a = 1; a <= n + 1; a++) {
            size_t sizes[2] = {a, 1u << 20};
            run(&CASES[i], sizes, 2);
        }
        size_t one = 1;
        run(&CASES[i], &one, 1);
    }
}

TEST(stop_three_chunks_and_random) {
    uint64_t x = 12345;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        size_t n = strlen(CASES[i].text);
        for (size_t a = 1; a <= n; a++)
            for (size_t b = 1; b + a <= n; b++) {
                size_t sizes[3] = {a, b, 1u << 20};
                run(&CASES[i], sizes, 3);
            }
        for (int rep = 0; rep < 50; rep++) {
            size_t sizes[8];
            for (int k = 0; k < 8; k++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                sizes[k] = 1 + (x >> 33) % 5;
            }
            run(&CASES[i], sizes, 8);
        }
    }
}

TEST(stop_token_ids_hidden_and_visible) {
    smg_stop_id_t ids[2] = {{2, false}, {7, true}};
    smg_stop_str_t ss[1] = {{"END", 3, false}};
    smg_stop_t *m;
    EXPECT_EQ_INT(smg_stop_new(ss, 1, ids, 2, 0, &m), SMG_OK);
    smg_stop_result_t r;
    EXPECT_EQ_INT(smg_stop_feed(m, "hello E", 7, 100, &r), SMG_OK);
    EXPECT_EQ_MEM(r.emit, r.emit_len, "hello ");
    EXPECT(!r.stopped);
    EXPECT_EQ_INT(smg_stop_feed(m, "</s>", 4, 2, &r), SMG_OK);
    EXPECT_EQ_MEM(r.emit, r.emit_len, "E"); /* held text is released, the EOS text is not */
    EXPECT(r.stopped);
    EXPECT_EQ_INT(r.stop_id, 0);
    EXPECT_EQ_INT(smg_stop_feed(m, "more", 4, 5, &r), SMG_OK);
    EXPECT(r.stopped);
    EXPECT_EQ_INT((int)r.emit_len, 0);
    smg_stop_reset(m);
    EXPECT_EQ_INT(smg_stop_feed(m, "ab", 2, 3, &r), SMG_OK);
    EXPECT_EQ_INT(smg_stop_feed(m, "<eot>", 5, 7, &r), SMG_OK);
    EXPECT_EQ_MEM(r.emit, r.emit_len, "<eot>");
    EXPECT_EQ_INT(r.stop_id, 1);
    smg_stop_free(m);
}

TEST(stop_all_visible_flag_and_bad_input) {
    smg_stop_str_t ss[1] = {{"X", 1, false}};
    smg_stop_t *m;
    EXPECT_EQ_INT(smg_stop_new(ss, 1, NULL, 0, SMG_STOP_ALL_VISIBLE, &m), SMG_OK);
    smg_stop_result_t r;
    EXPECT_EQ_INT(smg_stop_feed(m, "abXcd", 5, -1, &r), SMG_OK);
    EXPECT_EQ_MEM(r.emit, r.emit_len, "abX");
    smg_stop_free(m);
    smg_stop_str_t empty[1] = {{"", 0, false}};
    EXPECT_EQ_INT(smg_stop_new(empty, 1, NULL, 0, 0, &m), SMG_EINVAL);
}

TEST(stop_incomplete_utf8_is_held_until_complete) {
    smg_stop_t *m;
    EXPECT_EQ_INT(smg_stop_new(NULL, 0, NULL, 0, 0, &m), SMG_OK);
    smg_stop_result_t r;
    const char *e = "\xE2\x82\xAC"; /* € */
    EXPECT_EQ_INT(smg_stop_feed(m, e, 1, -1, &r), SMG_OK);
    EXPECT_EQ_INT((int)r.emit_len, 0);
    EXPECT_EQ_INT(smg_stop_feed(m, e + 1, 1, -1, &r), SMG_OK);
    EXPECT_EQ_INT((int)r.emit_len, 0);
    EXPECT_EQ_INT(smg_stop_feed(m, e + 2, 1, -1, &r), SMG_OK);
    EXPECT_EQ_MEM(r.emit, r.emit_len, "\xE2\x82\xAC");
    smg_stop_free(m);
}
