#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/status.h"
#include "core/str.h"
#include "core/utf8.h"
#include "unit.h"

TEST(buf_cap_refuses_growth) {
    smg_buf_t b;
    smg_buf_init(&b, 8);
    EXPECT_EQ_INT(smg_buf_append_c(&b, "12345678"), SMG_OK);
    EXPECT_EQ_INT(smg_buf_append_c(&b, "9"), SMG_ETOOBIG);
    EXPECT_EQ_MEM(b.ptr, b.len, "12345678");
    smg_buf_free(&b);
}

TEST(buf_appendf_long) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    EXPECT_EQ_INT(smg_buf_appendf(&b, "<%s>%d", big, 42), SMG_OK);
    EXPECT_EQ_INT(b.len, 1003);
    EXPECT(b.ptr[0] == '<' && b.ptr[1000] == '>' && b.ptr[1002] == '2');
    smg_buf_free(&b);
}

TEST(buf_json_escape) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_buf_append_json_escaped(&b, SMG_STR("a\"b\\c\n\x01 é")), SMG_OK);
    EXPECT_EQ_STR(b.ptr, "a\\\"b\\\\c\\n\\u0001 é");
    smg_buf_free(&b);
}

TEST(buf_consume) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_buf_append_c(&b, "hello world"), SMG_OK);
    smg_buf_consume(&b, 6);
    EXPECT_EQ_STR(b.ptr, "world");
    smg_buf_consume(&b, 100);
    EXPECT_EQ_INT(b.len, 0);
    smg_buf_free(&b);
}

TEST(str_helpers) {
    EXPECT(smg_str_eq_nocase(SMG_STR("Content-Length"), SMG_STR("content-length")));
    EXPECT(!smg_str_eq_nocase(SMG_STR("Content-Length"), SMG_STR("content-lengt")));
    smg_str_t t = smg_str_trim(SMG_STR(" \t x y \t"));
    EXPECT_EQ_MEM(t.ptr, t.len, "x y");
    unsigned long long v = 0;
    EXPECT(smg_str_to_u64(SMG_STR("18446744073709551615"), ~0ull, &v));
    EXPECT(v == ~0ull);
    EXPECT(!smg_str_to_u64(SMG_STR("18446744073709551616"), ~0ull, &v));
    EXPECT(!smg_str_to_u64(SMG_STR("12a"), ~0ull, &v));
    EXPECT(!smg_str_to_u64(SMG_STR(""), ~0ull, &v));
    EXPECT(!smg_str_to_u64(SMG_STR("101"), 100, &v));
    EXPECT_EQ_INT(smg_str_find(SMG_STR("abcabd"), SMG_STR("abd")), 3);
    EXPECT_EQ_INT(smg_str_find(SMG_STR("abc"), SMG_STR("abd")), -1);
}

TEST(hex_digit_values) {
    EXPECT_EQ_INT(smg_hex_digit('0'), 0);
    EXPECT_EQ_INT(smg_hex_digit('9'), 9);
    EXPECT_EQ_INT(smg_hex_digit('a'), 10);
    EXPECT_EQ_INT(smg_hex_digit('F'), 15);
    EXPECT_EQ_INT(smg_hex_digit('g'), -1);
    EXPECT_EQ_INT(smg_hex_digit('G'), -1);
    EXPECT_EQ_INT(smg_hex_digit('/'), -1);
    EXPECT_EQ_INT(smg_hex_digit(':'), -1);
    EXPECT_EQ_INT(smg_hex_digit(0xC6), -1);
}

/* Encodings from RFC 3629 §7 and the Unicode boundaries of each length. */
TEST(utf8_put_lengths) {
    static const struct {
        uint32_t cp;
        const char *utf8;
    } v[] = {
        {0x24, "$"},          {0x7F, "\x7F"},         {0x80, "\xC2\x80"},
        {0xA2, "\xC2\xA2"},   {0x7FF, "\xDF\xBF"},     {0x800, "\xE0\xA0\x80"},
        {0x20AC, "\xE2\x82\xAC"}, {0xFFFF, "\xEF\xBF\xBF"}, {0x10000, "\xF0\x90\x80\x80"},
        {0x10348, "\xF0\x90\x8D\x88"}, {0x10FFFF, "\xF4\x8F\xBF\xBF"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[4];
        size_t n = smg_utf8_put(v[i].cp, out);
        EXPECT_EQ_MEM(out, n, v[i].utf8);
    }
    EXPECT_EQ_INT(smg_utf8_put(0x0, (char[4]){0}), 1);
}

/* Ill-formed sequences and their maximal subparts (Unicode §3.9, Table 3-8). */
TEST(utf8_valid_at_subparts) {
    static const struct {
        const char *s;
        size_t len, bad;
    } v[] = {
        {"A", 1, 0},           {"\xC2\xA2", 2, 0},     {"\xED\x9F\xBF", 3, 0},
        {"\xF4\x8F\xBF\xBF", 4, 0}, {"\x80", 0, 1},   {"\xC0\xAF", 0, 1},
        {"\xC1\xBF", 0, 1},     {"\xE0\x80\x80", 0, 1}, {"\xED\xA0\x80", 0, 1},
        {"\xF0\x80\x80\x80", 0, 1}, {"\xF4\x90\x80\x80", 0, 1}, {"\xF5\x80", 0, 1},
        {"\xE1\x80\x41", 0, 2}, {"\xF1\x80\x80\x41", 0, 3}, {"\xF1\x80\x80", 0, 3},
        {"\xC2", 0, 1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t bad = 0;
        size_t got = smg_utf8_valid_at(v[i].s, strlen(v[i].s), &bad);
        if (got != v[i].len || (got == 0 && bad != v[i].bad))
            fprintf(stderr, "  case %zu: len %zu bad %zu\n", i, got, bad);
        EXPECT_EQ_INT(got, v[i].len);
        if (!got)
            EXPECT_EQ_INT(bad, v[i].bad);
    }
    EXPECT_EQ_INT(smg_utf8_valid_at("\xE2\x82\xAC", 3, NULL), 3);
    EXPECT_EQ_INT(smg_utf8_valid_at("\xE2\x82\xAC", 2, NULL), 0);
}

/* Every scalar value round-trips; every surrogate's encoding is refused. */
TEST(utf8_put_then_valid_every_code_point) {
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char out[4];
        size_t n = smg_utf8_put(cp, out), bad = 0;
        size_t want = (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
        if (smg_utf8_valid_at(out, n, &bad) != want) {
            EXPECT_EQ_INT(smg_utf8_valid_at(out, n, &bad), want);
            EXPECT_EQ_INT(cp, -1);
            return;
        }
    }
}

/* smg_str_eq_nocase compares 8 bytes at a time: every pair of byte values,
 * at each offset of a word and in the byte tail, against the byte-wise
 * definition (ASCII letters fold, nothing else does). */
static unsigned char ref_lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

TEST(str_eq_nocase_every_byte_pair) {
    char a[19], b[19];
    memset(a, 'k', sizeof a);
    memset(b, 'K', sizeof b); /* the rest differs in case only */
    long wrong = 0;
    for (int ca = 0; ca < 256; ca++) {
        for (int cb = 0; cb < 256; cb++) {
            bool want = ref_lower((unsigned char)ca) == ref_lower((unsigned char)cb);
            for (size_t off = 0; off < sizeof a; off++) {
                a[off] = (char)ca;
                b[off] = (char)cb;
                if (smg_str_eq_nocase(smg_str(a, sizeof a), smg_str(b, sizeof b)) != want)
                    wrong++;
                a[off] = 'k';
                b[off] = 'K';
            }
        }
    }
    EXPECT_EQ_INT(wrong, 0);
    EXPECT(smg_str_eq_nocase(SMG_STR("Content-Length"), SMG_STR("content-length")));
    EXPECT(!smg_str_eq_nocase(SMG_STR("Content-Length"), SMG_STR("content-lengtH ")));
    EXPECT(!smg_str_eq_nocase(SMG_STR("X-Request-Id"), SMG_STR("x-request-ie")));
    EXPECT(smg_str_eq_nocase(SMG_STR(""), SMG_STR("")));
}

TEST(status_names) {
    EXPECT_EQ_STR(smg_status_name(SMG_ETOOBIG), "SMG_ETOOBIG");
    EXPECT_EQ_STR(smg_status_str(SMG_OK), "ok");
    EXPECT_EQ_STR(smg_status_name(-999), "SMG_UNKNOWN");
}

TEST(log_levels) {
    EXPECT_EQ_INT(smg_log_level_parse(SMG_STR("DEBUG")), SMG_LOG_DEBUG);
    EXPECT_EQ_INT(smg_log_level_parse(SMG_STR("warning")), SMG_LOG_WARN);
    EXPECT_EQ_INT(smg_log_level_parse(SMG_STR("loud")), -1);
}

TEST(rand_below_in_range) {
    int seen[5] = {0};
    for (int i = 0; i < 5000; i++) {
        uint32_t r = smg_rand_below(5);
        EXPECT(r < 5);
        seen[r]++;
    }
    for (int i = 0; i < 5; i++)
        EXPECT(seen[i] > 700);
    EXPECT(smg_hash64("abc", 3, 0) == smg_hash64("abc", 3, 0));
    EXPECT(smg_hash64("abc", 3, 0) != smg_hash64("abd", 3, 0));
}

TEST(buf_json_string_quotes_and_escapes) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_buf_append_json_string(&b, SMG_STR("a\"b\n")), SMG_OK);
    EXPECT_EQ_STR(b.ptr, "\"a\\\"b\\n\"");
    smg_buf_free(&b);
    smg_buf_init(&b, 3);
    EXPECT_EQ_INT(smg_buf_append_json_string(&b, SMG_STR("abc")), SMG_ETOOBIG);
    smg_buf_free(&b);
}
