/* `smg tokenize` and `smg detokenize`: drive the tokenizer from the command
 * line. Exit codes: 0 ok, 1 load or runtime error, 2 usage error. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "token/cli.h"
#include "token/tok_tokenizer.h"

#define MAX_INPUT (SMG_TOK_MAX_TEXT_BYTES * 2)

typedef struct {
    const char *dir;
    bool flag; /* --add-special-tokens / --skip-special-tokens */
    bool jsonl;
    bool stream; /* detokenize through the streaming decoder, id by id */
} cli_opts_t;

static int usage(const char *cmd, const char *flag, const char *why) {
    fprintf(stderr,
            "smg %s: %s\nusage: smg %s --tokenizer DIR [%s] [--jsonl]%s\n"
            "  reads %s on stdin; --jsonl: one JSON %s per line\n",
            cmd, why, cmd, flag, strcmp(cmd, "detokenize") == 0 ? " [--stream]" : "",
            strcmp(cmd, "tokenize") == 0 ? "text" : "a JSON id array",
            strcmp(cmd, "tokenize") == 0 ? "string" : "id array");
    return 2;
}

static int parse_args(int argc, char **argv, const char *cmd, const char *flag, cli_opts_t *o) {
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            o->dir = argv[++i];
        else if (!strncmp(argv[i], "--tokenizer=", 12))
            o->dir = argv[i] + 12;
        else if (!strcmp(argv[i], flag))
            o->flag = true;
        else if (!strcmp(argv[i], "--jsonl"))
            o->jsonl = true;
        else if (!strcmp(argv[i], "--stream") && strcmp(cmd, "detokenize") == 0)
            o->stream = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return usage(cmd, flag, "help");
        else {
            char why[300];
            snprintf(why, sizeof why, "unknown argument '%s'", argv[i]);
            return usage(cmd, flag, why);
        }
    }
    if (!o->dir)
        return usage(cmd, flag, "--tokenizer DIR is required");
    return 0;
}

static int read_all(FILE *f, smg_buf_t *b) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        int rc = smg_buf_append(b, chunk, n);
        if (rc)
            return rc;
    }
    return ferror(f) ? SMG_EIO : SMG_OK;
}

/* One line (without the newline) into b; 0 ok, 1 EOF, negative error. */
static int read_line(FILE *f, smg_buf_t *b) {
    smg_buf_reset(b);
    int c, got = 0;
    while ((c = getc(f)) != EOF) {
        got = 1;
        if (c == '\n')
            return 0;
        int rc = smg_buf_append_byte(b, (char)c);
        if (rc)
            return rc;
    }
    return got ? 0 : 1;
}

/* \uXXXX at p (6 bytes available) -> value, or -1. */
static long uescape(const char *p, size_t left) {
    if (left < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = smg_hex_digit((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* JSON.stringify of a JS string may hold lone surrogate escapes, which a JS
 * string passed to HF's Node binding turns into U+FFFD; jansson rejects them.
 * Rewrite each lone \uD800-\uDFFF escape to \uFFFD in place (same length). */
static void fix_lone_surrogates(char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (p[i] != '\\') {
            i++;
            continue;
        }
        long v = uescape(p + i, n - i);
        if (v < 0) {
            i += 2; /* another escape: skip the escaped char */
            continue;
        }
        if (v >= 0xD800 && v <= 0xDBFF) {
            long w = uescape(p + i + 6, n - i - 6);
            if (w >= 0xDC00 && w <= 0xDFFF) {
                i += 12;
                continue;
            }
        }
        if (v >= 0xD800 && v <= 0xDFFF)
            memcpy(p + i + 2, "FFFD", 4);
        i += 6;
    }
}

static int put_ids(smg_buf_t *o, const smg_tok_ids_t *ids) {
    int rc = smg_buf_append_byte(o, '[');
    for (size_t i = 0; i < ids->len && !rc; i++) {
        char num[16];
        int k = snprintf(num, sizeof num, i ? ",%u" : "%u", ids->ids[i]);
        rc = smg_buf_append(o, num, (size_t)k);
    }
    if (!rc)
        rc = smg_buf_append_c(o, "]\n");
    return rc;
}

static smg_tok_t *load(const char *cmd, const char *dir) {
    smg_tok_t *tok;
    char err[512];
    int rc = smg_tok_load_dir(dir, &tok, err, sizeof err);
    if (rc) {
        fprintf(stderr, "smg %s: %s (%s)\n", cmd, err[0] ? err : "load failed",
                smg_status_str(rc));
        return NULL;
    }
    return tok;
}

static int flush(smg_buf_t *o) {
    if (o->len && fwrite(o->ptr, 1, o->len, stdout) != o->len)
        return SMG_EIO;
    smg_buf_reset(o);
    return SMG_OK;
}

int smg_cli_tokenize(int argc, char **argv) {
    cli_opts_t o;
    int u = parse_args(argc, argv, "tokenize", "--add-special-tokens", &o);
    if (u)
        return u;
    smg_tok_t *tok = load("tokenize", o.dir);
    if (!tok)
        return 1;
    smg_buf_t in, out;
    smg_buf_init(&in, MAX_INPUT);
    smg_buf_init(&out, 0);
    smg_tok_ids_t ids = {0};
    int rc = SMG_OK, ret = 0;
    size_t lineno = 0;
    if (!o.jsonl) {
        rc = read_all(stdin, &in);
        if (!rc)
            rc = smg_tok_encode(tok, smg_buf_str(&in).ptr, in.len, o.flag, &ids);
        if (!rc)
            rc = put_ids(&out, &ids);
        if (!rc)
            rc = flush(&out);
    } else {
        int lr;
        while (!rc && (lr = read_line(stdin, &in)) == 0) {
            lineno++;
            if (in.len == 0)
                continue;
            json_error_t jerr;
            fix_lone_surrogates(in.ptr, in.len);
            json_t *v = json_loadb(in.ptr, in.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!json_is_string(v)) {
                fprintf(stderr, "smg tokenize: stdin line %zu: expected a JSON string%s%s\n",
                        lineno, v ? "" : ": ", v ? "" : jerr.text);
                json_decref(v);
                ret = 1;
                break;
            }
            ids.len = 0;
            rc = smg_tok_encode(tok, json_string_value(v), json_string_length(v), o.flag, &ids);
            json_decref(v);
            if (!rc)
                rc = put_ids(&out, &ids);
            if (!rc && out.len > (1u << 20))
                rc = flush(&out);
        }
        if (lr < 0)
            rc = lr;
        if (!rc)
            rc = flush(&out);
    }
    if (rc) {
        fprintf(stderr, "smg tokenize: %s%s\n", smg_status_str(rc),
                lineno ? " (see the line count above)" : "");
        ret = 1;
    }
    fflush(stdout);
    smg_tok_ids_free(&ids);
    smg_buf_free(&in);
    smg_buf_free(&out);
    smg_tok_free(tok);
    return ret;
}

/* Parse a JSON array of ids. */
static int parse_ids(const char *p, size_t n, smg_tok_ids_t *ids, char *err, size_t errlen) {
    json_error_t jerr;
    json_t *v = json_loadb(p, n, JSON_DECODE_ANY, &jerr);
    if (!json_is_array(v)) {
        snprintf(err, errlen, "expected a JSON array of ids%s%s", v ? "" : ": ",
                 v ? "" : jerr.text);
        json_decref(v);
        return SMG_EPARSE;
    }
    ids->len = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > (json_int_t)UINT32_MAX) {
            snprintf(err, errlen, "element %zu is not a non-negative integer id", i);
            json_decref(v);
            return SMG_EPARSE;
        }
        uint32_t id = (uint32_t)json_integer_value(e);
        if (ids->len == ids->cap) {
            size_t nc = ids->cap ? ids->cap * 2 : 64;
            uint32_t *a = realloc(ids->ids, nc * sizeof *a);
            if (!a) {
                json_decref(v);
                return SMG_ENOMEM;
            }
            ids->ids = a;
            ids->cap = nc;
        }
        ids->ids[ids->len++] = id;
    }
    json_decref(v);
    return SMG_OK;
}

/* Decode ids, whole or through the stream decoder (one id at a time). */
static int decode_ids(const smg_tok_t *tok, const smg_tok_ids_t *ids, const cli_opts_t *o,
                      char **text, size_t *tl) {
    if (!o->stream)
        return smg_tok_decode(tok, ids->ids, ids->len, o->flag, text, tl);
    smg_tok_stream_t *st;
    int rc = smg_tok_stream_new(tok, o->flag, &st);
    if (rc)
        return rc;
    smg_buf_t acc;
    smg_buf_init(&acc, 0);
    const char *piece;
    size_t pl;
    for (size_t i = 0; i < ids->len && !rc; i++) {
        rc = smg_tok_stream_step(st, ids->ids[i], &piece, &pl);
        if (!rc)
            rc = smg_buf_append(&acc, piece, pl);
    }
    if (!rc)
        rc = smg_tok_stream_finish(st, &piece, &pl);
    if (!rc)
        rc = smg_buf_append(&acc, piece, pl);
    smg_tok_stream_free(st);
    if (rc) {
        smg_buf_free(&acc);
        return rc;
    }
    *tl = acc.len;
    *text = smg_buf_detach(&acc);
    if (!*text && !(*text = calloc(1, 1)))
        return SMG_ENOMEM;
    return SMG_OK;
}

int smg_cli_detokenize(int argc, char **argv) {
    cli_opts_t o;
    int u = parse_args(argc, argv, "detokenize", "--skip-special-tokens", &o);
    if (u)
        return u;
    smg_tok_t *tok = load("detokenize", o.dir);
    if (!tok)
        return 1;
    smg_buf_t in, out;
    smg_buf_init(&in, MAX_INPUT);
    smg_buf_init(&out, 0);
    smg_tok_ids_t ids = {0};
    int rc = SMG_OK, ret = 0;
    char err[200] = "";
    size_t lineno = 0;
    if (!o.jsonl) {
        rc = read_all(stdin, &in);
        if (!rc)
            rc = parse_ids(smg_buf_str(&in).ptr, in.len, &ids, err, sizeof err);
        char *text = NULL;
        size_t tl = 0;
        if (!rc)
            rc = decode_ids(tok, &ids, &o, &text, &tl);
        if (!rc && tl && fwrite(text, 1, tl, stdout) != tl)
            rc = SMG_EIO;
        free(text);
    } else {
        int lr;
        while (!rc && (lr = read_line(stdin, &in)) == 0) {
            lineno++;
            if (in.len == 0)
                continue;
            rc = parse_ids(in.ptr, in.len, &ids, err, sizeof err);
            char *text = NULL;
            size_t tl = 0;
            if (!rc)
                rc = decode_ids(tok, &ids, &o, &text, &tl);
            if (!rc && !(rc = smg_buf_append_byte(&out, '"')) &&
                !(rc = smg_buf_append_json_escaped(&out, smg_str(text, tl))))
                rc = smg_buf_append_c(&out, "\"\n");
            free(text);
            if (!rc && out.len > (1u << 20))
                rc = flush(&out);
        }
        if (lr < 0)
            rc = lr;
        if (!rc)
            rc = flush(&out);
    }
    if (rc) {
        if (lineno)
            fprintf(stderr, "smg detokenize: stdin line %zu: %s\n", lineno,
                    err[0] ? err : smg_status_str(rc));
        else
            fprintf(stderr, "smg detokenize: %s\n", err[0] ? err : smg_status_str(rc));
        ret = 1;
    }
    fflush(stdout);
    smg_tok_ids_free(&ids);
    smg_buf_free(&in);
    smg_buf_free(&out);
    smg_tok_free(tok);
    return ret;
}
