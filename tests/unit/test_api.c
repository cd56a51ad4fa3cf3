#include <jansson.h>

#include "api/errors.h"
#include "api/json_scan.h"
#include "unit.h"

static const char *const WANT[] = {"model", "stream"};

static int scan(const char *doc, smg_json_field_t *f) {
    smg_json_scan_info_t info;
    return smg_json_scan_top(smg_str_c(doc), WANT, 2, f, &info);
}

TEST(scan_finds_top_level_fields) {
    smg_json_field_t f[2];
    EXPECT_EQ_INT(scan("{\"messages\":[{\"model\":\"inner\"}],\"model\":\"m1\",\"stream\":true}", f),
                  SMG_OK);
    EXPECT_EQ_INT(f[0].type, SMG_JSON_STRING);
    EXPECT_EQ_MEM(f[0].raw.ptr, f[0].raw.len, "\"m1\"");
    EXPECT_EQ_INT(f[1].type, SMG_JSON_TRUE);
}

TEST(scan_escaped_key_and_last_wins) {
    smg_json_field_t f[2];
    EXPECT_EQ_INT(scan("{\"mod\\u0065l\":\"a\",\"model\":\"b\"}", f), SMG_OK);
    EXPECT_EQ_MEM(f[0].raw.ptr, f[0].raw.len, "\"b\"");
    EXPECT_EQ_INT(f[1].type, SMG_JSON_ABSENT);
}

TEST(scan_rejects_bad_json) {
    const char *bad[] = {"",
                         "{",
                         "{\"model\":}",
                         "{\"a\":1,}",
                         "[1,2",
                         "{\"a\":01}",
                         "{\"a\":1.}",
                         "{\"a\":\"\\x\"}",
                         "{\"a\":\"\x01\"}",
                         "{\"a\":\"\xff\"}",
                         "{\"a\":\"\xc0\xaf\"}",
                         "{\"a\":\"\\ud800\"}",
                         "{\"a\":tru}",
                         "{} {}",
                         "{'a':1}",
                         "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        smg_json_field_t f[2];
        smg_json_scan_info_t info;
        int rc = smg_json_scan_top(smg_str_c(bad[i]), WANT, 2, f, &info);
        if (rc != SMG_EPARSE)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        EXPECT_EQ_INT(rc, SMG_EPARSE);
        EXPECT(info.error != NULL);
    }
}

TEST(scan_accepts_valid_json) {
    const char *good[] = {"{}", "[]", "1", "-0.5e+10", "\"x\"", "null",
                          " {\"a\" : [ true , false , null , {\"b\":\"\\ud83d\\ude00 é\"} ] } ",
                          "{\"model\":\"m\\\"q\"}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        smg_json_field_t f[2];
        EXPECT_EQ_INT(scan(good[i], f), SMG_OK);
    }
}

TEST(scan_depth_cap) {
    char doc[600];
    memset(doc, '[', 300);
    memset(doc + 300, ']', 300);
    smg_json_field_t f[2];
    smg_json_scan_info_t info;
    EXPECT_EQ_INT(smg_json_scan_top(smg_str(doc, 600), WANT, 2, f, &info), SMG_EPARSE);
    EXPECT_EQ_STR(info.error, "nesting too deep");
}

/* The string scanner skips plain ASCII 16 or 8 bytes at a time: every byte
 * value, at every offset of a block, must still be seen. One byte c sits in a
 * long plain string; the document is valid exactly when c may appear raw in a
 * JSON string (0x20..0x7f other than '"' and '\\'; any byte >= 0x80 alone
 * is invalid UTF-8). Also a valid 2-byte UTF-8 character and a valid escape
 * at each offset. */
TEST(scan_string_every_byte_at_every_offset) {
    char doc[96];
    smg_json_field_t f[2];
    smg_json_scan_info_t info;
    for (int c = 0; c < 256; c++) {
        for (size_t off = 0; off < 49; off++) {
            size_t n = 0;
            doc[n++] = '"';
            for (size_t i = 0; i < off; i++)
                doc[n++] = 'a';
            doc[n++] = (char)c;
            for (size_t i = 0; i < 20; i++)
                doc[n++] = 'x'; /* "\\x" is no escape */
            doc[n++] = '"';
            bool valid = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
            int rc = smg_json_scan_top(smg_str(doc, n), WANT, 2, f, &info);
            if (rc != (valid ? SMG_OK : SMG_EPARSE))
                fprintf(stderr, "  byte 0x%02x at offset %zu: rc %d\n", c, off, rc);
            EXPECT_EQ_INT(rc, valid ? SMG_OK : SMG_EPARSE);
            if (!valid)
                EXPECT_EQ_INT((int)info.error_offset,
                              (int)(c == '"' || c == '\\' ? off + 2 : off + 1));
        }
    }
    for (size_t off = 0; off < 17; off++) {
        char good[64], esc[64];
        int n = snprintf(good, sizeof good, "{\"model\":\"%.*s\xc3\xa9xxxxxxxxxxxxxxxx\"}",
                         (int)off, "aaaaaaaaaaaaaaaaa");
        EXPECT_EQ_INT(smg_json_scan_top(smg_str(good, (size_t)n), WANT, 2, f, &info), SMG_OK);
        EXPECT_EQ_INT(f[0].type, SMG_JSON_STRING);
        EXPECT_EQ_INT((int)f[0].raw.len, (int)off + 20);
        n = snprintf(esc, sizeof esc, "{\"model\":\"%.*s\\\"xxxxxxxxxxxxxxxx\"}", (int)off,
                     "aaaaaaaaaaaaaaaaa");
        EXPECT_EQ_INT(smg_json_scan_top(smg_str(esc, (size_t)n), WANT, 2, f, &info), SMG_OK);
        EXPECT_EQ_INT((int)f[0].raw.len, (int)off + 20);
    }
}

TEST(unescape_string) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_json_unescape(SMG_STR("\"a\\n\\u00e9\\ud83d\\ude00\\\"\""), &b), SMG_OK);
    EXPECT_EQ_STR(b.ptr, "a\né😀\"");
    smg_buf_free(&b);
}

TEST(error_bodies_are_valid_json) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_api_error_body(&b, SMG_API_OPENAI, 404, "model_not_found", "model",
                                     "model \"x\" not found"),
                  SMG_OK);
    json_error_t err;
    json_t *j = json_loads(b.ptr, 0, &err);
    EXPECT(j != NULL);
    EXPECT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                  "invalid_request_error");
    EXPECT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                  "model \"x\" not found");
    json_decref(j);
    smg_buf_reset(&b);
    EXPECT_EQ_INT(smg_api_error_body(&b, SMG_API_ANTHROPIC, 503, NULL, NULL, "no worker"), SMG_OK);
    EXPECT_EQ_STR(b.ptr,
                  "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"no worker\"}}");
    smg_buf_free(&b);
}
