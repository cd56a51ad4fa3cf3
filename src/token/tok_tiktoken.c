/* tiktoken rank files ("<base64 bytes> <rank>" per line) loaded as a
 * byte-level BPE: id = rank, and every split of a token into two tokens is a
 * merge ranked by the whole token's rank. Merging the lowest-ranked adjacent
 * pair first (leftmost on ties) is then exactly tiktoken's byte_pair_merge.
 * The pre-tokenizer keeps only the regex matches, as tiktoken does. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/tok_internal.h"

int smg__tok_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

static const char CL100K_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char O200K_RE[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct {
    const char *content;
    uint32_t id;
} special_t;

static const special_t CL100K_SPECIAL[] = {
    {"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}, {"<|fim_middle|>", 100259},
    {"<|fim_suffix|>", 100260}, {"<|endofprompt|>", 100276},
};
static const special_t O200K_SPECIAL[] = {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}};

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64 (with optional '=' padding); false when invalid. */
static bool b64_decode(const char *s, size_t n, smg_buf_t *out) {
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < n && s[i] != '='; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (smg_buf_append_byte(out, (char)((acc >> bits) & 0xFF)))
                return false;
        }
    }
    for (; i < n; i++)
        if (s[i] != '=')
            return false;
    return true;
}

/* The byte-level (GPT-2 alphabet) string of raw bytes. */
static int to_bytelevel(const char *p, size_t n, smg_buf_t *out) {
    smg_buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        char u[4];
        int rc = smg_buf_append(out, u, smg_utf8_put(smg__tok_byte_to_cp((uint8_t)p[i]), u));
        if (rc)
            return rc;
    }
    return SMG_OK;
}

#define FAILT(code, ...)                                                                           \
    do {                                                                                           \
        smg__tok_errf(err, errlen, __VA_ARGS__);                                                   \
        rc = (code);                                                                               \
        goto fail;                                                                                 \
    } while (0)

int smg_tok_load_tiktoken(const char *data, size_t len, smg_tok_tiktoken_kind_t kind,
                          const char *name, smg_tok_t **out, char *err, size_t errlen) {
    *out = NULL;
    if (!name)
        name = "ranks.tiktoken";
    if (kind != SMG_TOK_TIKTOKEN_CL100K && kind != SMG_TOK_TIKTOKEN_O200K) {
        smg__tok_errf(err, errlen, "%s: unknown tiktoken kind", name);
        return SMG_EINVAL;
    }
    if (len > SMG_TOK_MAX_FILE_BYTES) {
        smg__tok_errf(err, errlen, "%s: file too large", name);
        return SMG_ETOOBIG;
    }
    int rc = SMG_OK;
    smg_buf_t raw, bl;
    smg_buf_init(&raw, SMG_TOK_MAX_TOKEN_BYTES);
    smg_buf_init(&bl, 0);
    smg__tok_smap_t rawmap; /* raw bytes -> rank */
    smg__tok_smap_init(&rawmap);
    smg_tok_t *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->name = strdup(name))) {
        free(tok);
        return SMG_ENOMEM;
    }
    smg__tok_model_t *m = &tok->model;
    m->type = SMG__MODEL_BPE;
    m->unk_id = SMG__TOK_NONE;
    smg__tok_smap_init(&m->vocab);
    smg__tok_smap_init(&m->raw_vocab);
    for (int i = 0; i < 256; i++)
        m->fallback_ids[i] = m->byte_ids[i] = SMG__TOK_NONE;
    uint32_t max_id = 0;
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            continue;
        const char *sp = memchr(line, ' ', ll);
        if (!sp)
            FAILT(SMG_EPARSE, "%s:%zu: expected \"<base64> <rank>\"", name, lineno);
        unsigned long long rank;
        smg_buf_reset(&raw);
        if (!b64_decode(line, (size_t)(sp - line), &raw) || raw.len == 0)
            FAILT(SMG_EPARSE, "%s:%zu: invalid base64 token", name, lineno);
        if (!smg_str_to_u64(smg_str(sp + 1, ll - (size_t)(sp + 1 - line)), SMG_TOK_MAX_VOCAB - 1,
                            &rank))
            FAILT(SMG_EPARSE, "%s:%zu: rank is not an integer below %u", name, lineno,
                  SMG_TOK_MAX_VOCAB);
        if ((rc = smg__tok_smap_put(&rawmap, raw.ptr, raw.len, (uint32_t)rank)) ||
            (rc = to_bytelevel(raw.ptr, raw.len, &bl)) ||
            (rc = smg__tok_smap_put(&m->vocab, bl.ptr, bl.len, (uint32_t)rank)))
            goto fail;
        if ((uint32_t)rank + 1 > max_id)
            max_id = (uint32_t)rank + 1;
    }
    /* merges: every split of a token into two tokens */
    size_t npairs = 0;
    for (size_t e = 0; e < rawmap.n; e++)
        npairs += rawmap.key_len[e] > 1 ? rawmap.key_len[e] - 1 : 0;
    if ((rc = smg__tok_pmap_reserve(&m->merges, npairs)))
        goto fail;
    for (size_t e = 0; e < rawmap.n; e++) {
        const char *k = rawmap.arena.ptr + rawmap.key_off[e];
        size_t kl = rawmap.key_len[e];
        for (size_t cut = 1; cut < kl; cut++) {
            uint32_t a, b;
            if (smg__tok_smap_get(&rawmap, k, cut, &a) &&
                smg__tok_smap_get(&rawmap, k + cut, kl - cut, &b) &&
                (rc = smg__tok_pmap_put(&m->merges, a, b, rawmap.val[e], rawmap.val[e])))
                goto fail;
        }
    }
    /* components: Split (keep matches) + ByteLevel, ByteLevel decoder */
    const char *re = kind == SMG_TOK_TIKTOKEN_O200K ? O200K_RE : CL100K_RE;
    tok->pre = calloc(1, sizeof *tok->pre);
    tok->dec = calloc(1, sizeof *tok->dec);
    if (!tok->pre || !tok->dec) {
        rc = SMG_ENOMEM;
        goto fail;
    }
    tok->pre->type = SMG__PRE_SEQUENCE;
    if (!(tok->pre->items = calloc(2, sizeof *tok->pre->items))) {
        rc = SMG_ENOMEM;
        goto fail;
    }
    tok->pre->n = 2;
    tok->pre->items[0].type = SMG__PRE_SPLIT;
    tok->pre->items[0].behavior = SMG__SPLIT_REMOVED;
    tok->pre->items[0].invert = true;
    char msg[200];
    if ((rc = smg__tok_pattern_init(&tok->pre->items[0].pat, re, strlen(re), true, msg,
                                    sizeof msg)))
        FAILT(rc, "%s: %s", name, msg);
    tok->pre->items[1].type = SMG__PRE_BYTELEVEL;
    tok->byte_level = true;
    tok->dec->type = SMG__DEC_BYTELEVEL;
    const special_t *sp = kind == SMG_TOK_TIKTOKEN_O200K ? O200K_SPECIAL : CL100K_SPECIAL;
    size_t nsp = kind == SMG_TOK_TIKTOKEN_O200K ? 2 : 5;
    if (!(tok->added = calloc(nsp, sizeof *tok->added))) {
        rc = SMG_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nsp; i++) {
        smg__tok_added_t *at = &tok->added[i];
        if (!(at->content = strdup(sp[i].content))) {
            rc = SMG_ENOMEM;
            goto fail;
        }
        tok->n_added = i + 1;
        at->len = strlen(sp[i].content);
        at->id = sp[i].id;
        at->special = true;
        if (at->id + 1 > max_id)
            max_id = at->id + 1;
    }
    tok->vocab_size = max_id;
    if ((rc = smg__tok_finish_load(tok, err, errlen)))
        goto fail;
    smg_buf_free(&raw);
    smg_buf_free(&bl);
    smg__tok_smap_free(&rawmap);
    *out = tok;
    return SMG_OK;
fail:
    smg_buf_free(&raw);
    smg_buf_free(&bl);
    smg__tok_smap_free(&rawmap);
    smg_tok_free(tok);
    if (rc == SMG_ENOMEM && err && errlen)
        smg__tok_errf(err, errlen, "%s: out of memory", name);
    return rc;
}

int smg__tok_load_tiktoken_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen);
int smg__tok_load_tiktoken_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d)
        return SMG_ENOTFOUND;
    char found[1024] = "";
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 9 && !strcmp(e->d_name + n - 9, ".tiktoken")) {
            count++;
            snprintf(found, sizeof found, "%s", e->d_name);
        }
    }
    closedir(d);
    if (count == 0)
        return SMG_ENOTFOUND;
    if (count > 1) {
        smg__tok_errf(err, errlen, "%s: more than one *.tiktoken file", dir);
        return SMG_EINVAL;
    }
    smg_tok_tiktoken_kind_t kind;
    if (strstr(found, "o200k"))
        kind = SMG_TOK_TIKTOKEN_O200K;
    else if (strstr(found, "cl100k"))
        kind = SMG_TOK_TIKTOKEN_CL100K;
    else {
        smg__tok_errf(err, errlen,
                      "%s/%s: cannot tell the regex: the name must contain o200k or cl100k", dir,
                      found);
        return SMG_EUNSUPPORTED;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, found);
    char *data;
    size_t len;
    int rc = smg__tok_read_file(path, &data, &len, err, errlen);
    if (rc)
        return rc;
    rc = smg_tok_load_tiktoken(data, len, kind, path, out, err, errlen);
    free(data);
    return rc;
}
