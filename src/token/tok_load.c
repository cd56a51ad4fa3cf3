/* Loading tokenizer.json (HF format) into components, plus the model
 * directory's configs. Every unknown or malformed component is an error that
 * names the component and the file. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "token/tok_internal.h"

typedef struct {
    const char *file;
    char *err;
    size_t errlen;
} ld_t;

#define FAIL(ld, code, ...)                                                                        \
    do {                                                                                           \
        char fail_msg_[400];                                                                       \
        snprintf(fail_msg_, sizeof fail_msg_, __VA_ARGS__);                                        \
        smg__tok_errf((ld)->err, (ld)->errlen, "%s: %s", (ld)->file, fail_msg_);                   \
        return (code);                                                                             \
    } while (0)

static atomic_ullong next_uid = 1;

/* ---- json helpers ---------------------------------------------------------- */

static const char *jtype(json_t *o) {
    json_t *t = json_object_get(o, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static bool jbool(json_t *o, const char *k, bool dflt) {
    json_t *v = json_object_get(o, k);
    if (json_is_boolean(v))
        return json_is_true(v);
    return dflt;
}

/* String field: returns true with (p, n) when present and a string. */
static bool jstr(json_t *o, const char *k, const char **p, size_t *n) {
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        return false;
    *p = json_string_value(v);
    *n = json_string_length(v);
    return true;
}

static char *dupn(const char *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static int load_pattern(ld_t *ld, json_t *o, const char *what, smg__tok_pattern_t *pat) {
    json_t *p = json_object_get(o, "pattern");
    const char *s;
    size_t n;
    bool regex;
    if (jstr(p, "String", &s, &n))
        regex = false;
    else if (jstr(p, "Regex", &s, &n))
        regex = true;
    else
        FAIL(ld, SMG_EPARSE, "%s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", what);
    char msg[300];
    int rc = smg__tok_pattern_init(pat, s, n, regex, msg, sizeof msg);
    if (rc)
        FAIL(ld, rc, "%s: %s", what, rc == SMG_ENOMEM ? "out of memory" : msg);
    return SMG_OK;
}

static int first_cp(ld_t *ld, const char *what, const char *s, size_t n, uint32_t *cp) {
    if (n == 0 || !smg__tok_utf8_valid(s, n) || smg__tok_utf8_next(s, n, cp) != n)
        FAIL(ld, SMG_EPARSE, "%s must be exactly one character", what);
    return SMG_OK;
}

/* ---- normalizers ------------------------------------------------------------ */

static int load_norm(ld_t *ld, json_t *o, smg__tok_norm_t *nm, int depth) {
    memset(nm, 0, sizeof *nm);
    const char *t = jtype(o);
    if (!t)
        FAIL(ld, SMG_EPARSE, "normalizer without a \"type\"");
    if (depth > 8)
        FAIL(ld, SMG_EPARSE, "normalizer Sequence nested too deeply");
    const char *s;
    size_t n;
    if (!strcmp(t, "NFC"))
        nm->type = SMG__NORM_NFC;
    else if (!strcmp(t, "NFKC"))
        nm->type = SMG__NORM_NFKC;
    else if (!strcmp(t, "NFD"))
        nm->type = SMG__NORM_NFD;
    else if (!strcmp(t, "NFKD"))
        nm->type = SMG__NORM_NFKD;
    else if (!strcmp(t, "Lowercase"))
        nm->type = SMG__NORM_LOWERCASE;
    else if (!strcmp(t, "StripAccents"))
        nm->type = SMG__NORM_STRIP_ACCENTS;
    else if (!strcmp(t, "Prepend")) {
        nm->type = SMG__NORM_PREPEND;
        if (!jstr(o, "prepend", &s, &n))
            FAIL(ld, SMG_EPARSE, "normalizer Prepend: missing \"prepend\"");
        if (!(nm->str = dupn(s, n)))
            return SMG_ENOMEM;
        nm->str_len = n;
    } else if (!strcmp(t, "Replace")) {
        nm->type = SMG__NORM_REPLACE;
        int rc = load_pattern(ld, o, "normalizer Replace", &nm->pat);
        if (rc)
            return rc;
        if (!jstr(o, "content", &s, &n))
            FAIL(ld, SMG_EPARSE, "normalizer Replace: missing \"content\"");
        if (!(nm->str = dupn(s, n)))
            return SMG_ENOMEM;
        nm->str_len = n;
    } else if (!strcmp(t, "Strip")) {
        nm->type = SMG__NORM_STRIP;
        nm->left = jbool(o, "strip_left", true);
        nm->right = jbool(o, "strip_right", true);
    } else if (!strcmp(t, "BertNormalizer")) {
        nm->type = SMG__NORM_BERT;
        nm->clean_text = jbool(o, "clean_text", true);
        nm->chinese = jbool(o, "handle_chinese_chars", true);
        nm->lowercase = jbool(o, "lowercase", true);
        json_t *sa = json_object_get(o, "strip_accents");
        nm->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : nm->lowercase;
    } else if (!strcmp(t, "Sequence")) {
        nm->type = SMG__NORM_SEQUENCE;
        json_t *a = json_object_get(o, "normalizers");
        if (!json_is_array(a))
            FAIL(ld, SMG_EPARSE, "normalizer Sequence: \"normalizers\" must be a list");
        size_t cnt = json_array_size(a);
        if (cnt && !(nm->items = calloc(cnt, sizeof *nm->items)))
            return SMG_ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            int rc = load_norm(ld, json_array_get(a, i), &nm->items[i], depth + 1);
            nm->n = i + 1;
            if (rc)
                return rc;
        }
    } else {
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported normalizer type \"%s\"", t);
    }
    return SMG_OK;
}

/* ---- pre-tokenizers --------------------------------------------------------- */

static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* Rust regex \w (Alphabetic, M, Nd, Pc, Join_Control) and \s (White_Space). */
static const char WHITESPACE_RE[] =
    "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]+|"
    "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}\\p{White_Space}]+";

static int behavior(ld_t *ld, json_t *o, const char *what, smg__tok_split_behavior_t dflt,
                    smg__tok_split_behavior_t *out) {
    const char *s;
    size_t n;
    if (!jstr(o, "behavior", &s, &n)) {
        *out = dflt;
        return SMG_OK;
    }
    if (!strcmp(s, "Removed"))
        *out = SMG__SPLIT_REMOVED;
    else if (!strcmp(s, "Isolated"))
        *out = SMG__SPLIT_ISOLATED;
    else if (!strcmp(s, "MergedWithPrevious"))
        *out = SMG__SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext"))
        *out = SMG__SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous"))
        *out = SMG__SPLIT_CONTIGUOUS;
    else
        FAIL(ld, SMG_EPARSE, "%s: unknown behavior \"%s\"", what, s);
    return SMG_OK;
}

static int prepend_scheme(ld_t *ld, json_t *o, const char *what, smg__tok_prepend_t *out) {
    const char *s;
    size_t n;
    if (jstr(o, "prepend_scheme", &s, &n)) {
        if (!strcmp(s, "first"))
            *out = SMG__PREPEND_FIRST;
        else if (!strcmp(s, "always"))
            *out = SMG__PREPEND_ALWAYS;
        else if (!strcmp(s, "never"))
            *out = SMG__PREPEND_NEVER;
        else
            FAIL(ld, SMG_EPARSE, "%s: unknown prepend_scheme \"%s\"", what, s);
    } else {
        *out = jbool(o, "add_prefix_space", true) ? SMG__PREPEND_ALWAYS : SMG__PREPEND_NEVER;
    }
    return SMG_OK;
}

static int load_pre(ld_t *ld, json_t *o, smg__tok_pre_t *p, int depth) {
    memset(p, 0, sizeof *p);
    const char *t = jtype(o);
    if (!t)
        FAIL(ld, SMG_EPARSE, "pre_tokenizer without a \"type\"");
    if (depth > 8)
        FAIL(ld, SMG_EPARSE, "pre_tokenizer Sequence nested too deeply");
    const char *s;
    size_t n;
    int rc;
    char msg[200];
    if (!strcmp(t, "Split")) {
        p->type = SMG__PRE_SPLIT;
        if ((rc = load_pattern(ld, o, "pre_tokenizer Split", &p->pat)) ||
            (rc = behavior(ld, o, "pre_tokenizer Split", SMG__SPLIT_ISOLATED, &p->behavior)))
            return rc;
        p->invert = jbool(o, "invert", false);
    } else if (!strcmp(t, "ByteLevel")) {
        p->type = SMG__PRE_BYTELEVEL;
        p->add_prefix_space = jbool(o, "add_prefix_space", true);
        p->use_regex = jbool(o, "use_regex", true);
        if (p->use_regex &&
            (rc = smg__tok_pattern_init(&p->pat, GPT2_RE, sizeof GPT2_RE - 1, true, msg,
                                        sizeof msg)))
            FAIL(ld, rc, "pre_tokenizer ByteLevel: %s", msg);
    } else if (!strcmp(t, "Metaspace")) {
        p->type = SMG__PRE_METASPACE;
        if (!jstr(o, "replacement", &s, &n))
            s = "\xE2\x96\x81", n = 3;
        if ((rc = first_cp(ld, "pre_tokenizer Metaspace replacement", s, n, &p->repl_cp)))
            return rc;
        memcpy(p->repl, s, n);
        p->repl_len = n;
        p->split = jbool(o, "split", true);
        if ((rc = prepend_scheme(ld, o, "pre_tokenizer Metaspace", &p->prepend)))
            return rc;
    } else if (!strcmp(t, "Digits")) {
        p->type = SMG__PRE_DIGITS;
        p->individual_digits = jbool(o, "individual_digits", false);
    } else if (!strcmp(t, "Punctuation")) {
        p->type = SMG__PRE_PUNCTUATION;
        if ((rc = behavior(ld, o, "pre_tokenizer Punctuation", SMG__SPLIT_ISOLATED, &p->behavior)))
            return rc;
    } else if (!strcmp(t, "Whitespace")) {
        p->type = SMG__PRE_WHITESPACE;
        if ((rc = smg__tok_pattern_init(&p->pat, WHITESPACE_RE, sizeof WHITESPACE_RE - 1, true,
                                        msg, sizeof msg)))
            FAIL(ld, rc, "pre_tokenizer Whitespace: %s", msg);
    } else if (!strcmp(t, "WhitespaceSplit")) {
        p->type = SMG__PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(t, "BertPreTokenizer")) {
        p->type = SMG__PRE_BERT;
    } else if (!strcmp(t, "CharDelimiterSplit")) {
        p->type = SMG__PRE_CHAR_DELIMITER;
        if (!jstr(o, "delimiter", &s, &n))
            FAIL(ld, SMG_EPARSE, "pre_tokenizer CharDelimiterSplit: missing \"delimiter\"");
        if ((rc = first_cp(ld, "pre_tokenizer CharDelimiterSplit delimiter", s, n, &p->delim)))
            return rc;
    } else if (!strcmp(t, "Sequence")) {
        p->type = SMG__PRE_SEQUENCE;
        json_t *a = json_object_get(o, "pretokenizers");
        if (!json_is_array(a))
            FAIL(ld, SMG_EPARSE, "pre_tokenizer Sequence: \"pretokenizers\" must be a list");
        size_t cnt = json_array_size(a);
        if (cnt && !(p->items = calloc(cnt, sizeof *p->items)))
            return SMG_ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            rc = load_pre(ld, json_array_get(a, i), &p->items[i], depth + 1);
            p->n = i + 1;
            if (rc)
                return rc;
            if (p->items[i].type == SMG__PRE_BYTELEVEL && i + 1 != cnt)
                FAIL(ld, SMG_EUNSUPPORTED,
                     "unsupported pre_tokenizer: ByteLevel followed by another pre-tokenizer");
        }
    } else {
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported pre_tokenizer type \"%s\"", t);
    }
    return SMG_OK;
}

static bool has_bytelevel(const smg__tok_pre_t *p) {
    if (p->type == SMG__PRE_BYTELEVEL)
        return true;
    for (size_t i = 0; i < p->n; i++)
        if (has_bytelevel(&p->items[i]))
            return true;
    return false;
}

/* ---- model ---------------------------------------------------------------- */

static int load_vocab(ld_t *ld, json_t *v, smg__tok_model_t *m, uint32_t *max_id) {
    if (!json_is_object(v))
        FAIL(ld, SMG_EPARSE, "model: \"vocab\" must be an object");
    const char *k;
    size_t kl;
    json_t *val;
    json_object_keylen_foreach(v, k, kl, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= (json_int_t)SMG_TOK_MAX_VOCAB)
            FAIL(ld, SMG_EPARSE, "model vocab: id of \"%.60s\" is not an integer in [0, %u)", k,
                 SMG_TOK_MAX_VOCAB);
        if (kl > SMG_TOK_MAX_TOKEN_BYTES)
            FAIL(ld, SMG_ETOOBIG, "model vocab: a token is longer than %u bytes",
                 SMG_TOK_MAX_TOKEN_BYTES);
        int rc = smg__tok_smap_put(&m->vocab, k, kl, (uint32_t)id);
        if (rc)
            return rc;
        if ((uint32_t)id + 1 > *max_id)
            *max_id = (uint32_t)id + 1;
    }
    return SMG_OK;
}

static int merge_parts(ld_t *ld, json_t *e, size_t i, const char **a, size_t *an, const char **b,
                       size_t *bn) {
    if (json_is_string(e)) {
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
            FAIL(ld, SMG_EPARSE, "model merges[%zu]: \"%.60s\" is not two tokens separated by one "
                                 "space", i, s);
        *a = s;
        *an = (size_t)(sp - s);
        *b = sp + 1;
        *bn = n - *an - 1;
        return SMG_OK;
    }
    if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
        json_is_string(json_array_get(e, 1))) {
        *a = json_string_value(json_array_get(e, 0));
        *an = json_string_length(json_array_get(e, 0));
        *b = json_string_value(json_array_get(e, 1));
        *bn = json_string_length(json_array_get(e, 1));
        return SMG_OK;
    }
    FAIL(ld, SMG_EPARSE, "model merges[%zu]: neither \"a b\" nor [\"a\", \"b\"]", i);
}

static int load_model(ld_t *ld, json_t *o, smg_tok_t *tok, uint32_t *max_id) {
    smg__tok_model_t *m = &tok->model;
    smg__tok_smap_init(&m->vocab);
    smg__tok_smap_init(&m->raw_vocab);
    m->unk_id = SMG__TOK_NONE;
    for (int i = 0; i < 256; i++)
        m->fallback_ids[i] = m->byte_ids[i] = SMG__TOK_NONE;
    if (!json_is_object(o))
        FAIL(ld, SMG_EPARSE, "missing \"model\" object");
    const char *t = jtype(o);
    if (!t) /* old files: infer */
        t = json_object_get(o, "merges") ? "BPE" : NULL;
    if (!t)
        FAIL(ld, SMG_EPARSE, "model without a \"type\"");
    const char *s;
    size_t n;
    int rc;
    if (!strcmp(t, "BPE")) {
        m->type = SMG__MODEL_BPE;
        json_t *dr = json_object_get(o, "dropout");
        if (json_is_number(dr) && json_number_value(dr) != 0.0)
            FAIL(ld, SMG_EUNSUPPORTED, "unsupported model BPE option: dropout");
        m->byte_fallback = jbool(o, "byte_fallback", false);
        m->fuse_unk = jbool(o, "fuse_unk", false);
        m->ignore_merges = jbool(o, "ignore_merges", false);
        if (jstr(o, "continuing_subword_prefix", &s, &n) && n) {
            if (!(m->prefix = dupn(s, n)))
                return SMG_ENOMEM;
            m->prefix_len = n;
        }
        if (jstr(o, "end_of_word_suffix", &s, &n) && n) {
            if (!(m->suffix = dupn(s, n)))
                return SMG_ENOMEM;
            m->suffix_len = n;
        }
        if ((rc = load_vocab(ld, json_object_get(o, "vocab"), m, max_id)))
            return rc;
        json_t *mg = json_object_get(o, "merges");
        if (mg && !json_is_array(mg))
            FAIL(ld, SMG_EPARSE, "model: \"merges\" must be a list");
        size_t cnt = json_array_size(mg);
        if ((rc = smg__tok_pmap_reserve(&m->merges, cnt)))
            return rc;
        smg_buf_t nb;
        smg_buf_init(&nb, 0);
        for (size_t i = 0; i < cnt; i++) {
            const char *a, *b;
            size_t an, bn;
            uint32_t ai, bi, ni;
            if ((rc = merge_parts(ld, json_array_get(mg, i), i, &a, &an, &b, &bn))) {
                smg_buf_free(&nb);
                return rc;
            }
            smg_buf_reset(&nb);
            size_t cut = m->prefix_len <= bn ? m->prefix_len : bn;
            if ((rc = smg_buf_append(&nb, a, an)) || (rc = smg_buf_append(&nb, b + cut, bn - cut))) {
                smg_buf_free(&nb);
                return rc;
            }
            if (!smg__tok_smap_get(&m->vocab, a, an, &ai) ||
                !smg__tok_smap_get(&m->vocab, b, bn, &bi) ||
                !smg__tok_smap_get(&m->vocab, nb.ptr, nb.len, &ni)) {
                smg_buf_free(&nb);
                FAIL(ld, SMG_EPARSE, "model merges[%zu]: a token of the merge is not in the vocab",
                     i);
            }
            if ((rc = smg__tok_pmap_put(&m->merges, ai, bi, (uint32_t)i, ni))) {
                smg_buf_free(&nb);
                return rc;
            }
        }
        smg_buf_free(&nb);
        if (jstr(o, "unk_token", &s, &n))
            (void)smg__tok_smap_get(&m->vocab, s, n, &m->unk_id);
        m->has_all_fallback = true;
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            if (!smg__tok_smap_get(&m->vocab, name, 6, &m->fallback_ids[b]))
                m->has_all_fallback = false;
        }
    } else if (!strcmp(t, "WordPiece")) {
        m->type = SMG__MODEL_WORDPIECE;
        if ((rc = load_vocab(ld, json_object_get(o, "vocab"), m, max_id)))
            return rc;
        if (!jstr(o, "unk_token", &s, &n))
            s = "[UNK]", n = 5;
        (void)smg__tok_smap_get(&m->vocab, s, n, &m->unk_id);
        if (!jstr(o, "continuing_subword_prefix", &s, &n))
            s = "##", n = 2;
        if (!(m->wp_prefix = dupn(s, n)))
            return SMG_ENOMEM;
        m->wp_prefix_len = n;
        json_t *mx = json_object_get(o, "max_input_chars_per_word");
        m->max_chars = json_is_integer(mx) && json_integer_value(mx) >= 0
                           ? (size_t)json_integer_value(mx)
                           : 100;
    } else if (!strcmp(t, "WordLevel")) {
        m->type = SMG__MODEL_WORDLEVEL;
        if ((rc = load_vocab(ld, json_object_get(o, "vocab"), m, max_id)))
            return rc;
        if (jstr(o, "unk_token", &s, &n))
            (void)smg__tok_smap_get(&m->vocab, s, n, &m->unk_id);
    } else {
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported model type \"%s\"", t);
    }
    return SMG_OK;
}

/* ---- post-processor ----------------------------------------------------------- */

static int pair_token(ld_t *ld, json_t *o, const char *k, const char *what,
                      smg__tok_tpl_item_t *it) {
    json_t *a = json_object_get(o, k);
    if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_integer(json_array_get(a, 1)))
        FAIL(ld, SMG_EPARSE, "post_processor %s: \"%s\" must be [token, id]", what, k);
    json_int_t id = json_integer_value(json_array_get(a, 1));
    if (id < 0 || id >= (json_int_t)SMG_TOK_MAX_VOCAB)
        FAIL(ld, SMG_EPARSE, "post_processor %s: bad id", what);
    if (!(it->ids = malloc(sizeof *it->ids)))
        return SMG_ENOMEM;
    it->ids[0] = (uint32_t)id;
    it->n = 1;
    return SMG_OK;
}

static int load_post(ld_t *ld, json_t *o, smg__tok_post_t *p, int depth) {
    memset(p, 0, sizeof *p);
    const char *t = jtype(o);
    if (!t)
        FAIL(ld, SMG_EPARSE, "post_processor without a \"type\"");
    if (depth > 8)
        FAIL(ld, SMG_EPARSE, "post_processor Sequence nested too deeply");
    int rc;
    if (!strcmp(t, "ByteLevel")) {
        p->type = SMG__POST_BYTELEVEL;
    } else if (!strcmp(t, "TemplateProcessing")) {
        p->type = SMG__POST_TEMPLATE;
        json_t *single = json_object_get(o, "single");
        json_t *special = json_object_get(o, "special_tokens");
        if (!json_is_array(single))
            FAIL(ld, SMG_EPARSE, "post_processor TemplateProcessing: \"single\" must be a list");
        size_t cnt = json_array_size(single);
        if (cnt > 64)
            FAIL(ld, SMG_EPARSE, "post_processor TemplateProcessing: template too long");
        if (cnt && !(p->items = calloc(cnt, sizeof *p->items)))
            return SMG_ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            json_t *e = json_array_get(single, i);
            p->n_items = i + 1;
            json_t *st = json_object_get(e, "SpecialToken");
            if (json_object_get(e, "Sequence")) {
                p->items[i].is_seq = true;
                continue;
            }
            const char *name;
            size_t nl;
            if (!jstr(st, "id", &name, &nl))
                FAIL(ld, SMG_EPARSE,
                     "post_processor TemplateProcessing: single[%zu] is neither SpecialToken nor "
                     "Sequence", i);
            json_t *def = json_object_get(special, name);
            json_t *ids = json_object_get(def, "ids");
            if (!json_is_array(ids))
                FAIL(ld, SMG_EPARSE,
                     "post_processor TemplateProcessing: special token \"%.60s\" has no ids", name);
            size_t k = json_array_size(ids);
            if (k > 64)
                FAIL(ld, SMG_EPARSE, "post_processor TemplateProcessing: too many ids");
            if (k && !(p->items[i].ids = malloc(k * sizeof(uint32_t))))
                return SMG_ENOMEM;
            for (size_t j = 0; j < k; j++) {
                json_t *v = json_array_get(ids, j);
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) >= (json_int_t)SMG_TOK_MAX_VOCAB)
                    FAIL(ld, SMG_EPARSE, "post_processor TemplateProcessing: bad id");
                p->items[i].ids[j] = (uint32_t)json_integer_value(v);
                p->items[i].n = j + 1;
            }
        }
    } else if (!strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing")) {
        p->type = t[0] == 'B' ? SMG__POST_BERT : SMG__POST_ROBERTA;
        if (!(p->items = calloc(3, sizeof *p->items)))
            return SMG_ENOMEM;
        p->n_items = 3;
        p->items[1].is_seq = true;
        if ((rc = pair_token(ld, o, "cls", t, &p->items[0])) ||
            (rc = pair_token(ld, o, "sep", t, &p->items[2])))
            return rc;
    } else if (!strcmp(t, "Sequence")) {
        p->type = SMG__POST_SEQUENCE;
        json_t *a = json_object_get(o, "processors");
        if (!json_is_array(a))
            FAIL(ld, SMG_EPARSE, "post_processor Sequence: \"processors\" must be a list");
        size_t cnt = json_array_size(a);
        if (cnt && !(p->subs = calloc(cnt, sizeof *p->subs)))
            return SMG_ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            rc = load_post(ld, json_array_get(a, i), &p->subs[i], depth + 1);
            p->n = i + 1;
            if (rc)
                return rc;
        }
    } else {
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported post_processor type \"%s\"", t);
    }
    return SMG_OK;
}

/* ---- decoder -------------------------------------------------------------------- */

static int load_dec(ld_t *ld, json_t *o, smg__tok_dec_t *d, int depth) {
    memset(d, 0, sizeof *d);
    const char *t = jtype(o);
    if (!t)
        FAIL(ld, SMG_EPARSE, "decoder without a \"type\"");
    if (depth > 8)
        FAIL(ld, SMG_EPARSE, "decoder Sequence nested too deeply");
    const char *s;
    size_t n;
    int rc;
    if (!strcmp(t, "ByteLevel")) {
        d->type = SMG__DEC_BYTELEVEL;
    } else if (!strcmp(t, "Metaspace")) {
        d->type = SMG__DEC_METASPACE;
        if (!jstr(o, "replacement", &s, &n))
            s = "\xE2\x96\x81", n = 3;
        if ((rc = first_cp(ld, "decoder Metaspace replacement", s, n, &d->cp)) ||
            (rc = prepend_scheme(ld, o, "decoder Metaspace", &d->prepend)))
            return rc;
    } else if (!strcmp(t, "ByteFallback")) {
        d->type = SMG__DEC_BYTEFALLBACK;
    } else if (!strcmp(t, "Fuse")) {
        d->type = SMG__DEC_FUSE;
    } else if (!strcmp(t, "Strip")) {
        d->type = SMG__DEC_STRIP;
        if (!jstr(o, "content", &s, &n))
            FAIL(ld, SMG_EPARSE, "decoder Strip: missing \"content\"");
        if ((rc = first_cp(ld, "decoder Strip content", s, n, &d->cp)))
            return rc;
        json_t *a = json_object_get(o, "start"), *b = json_object_get(o, "stop");
        if (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) < 0 ||
            json_integer_value(b) < 0 || json_integer_value(a) > 1000000 ||
            json_integer_value(b) > 1000000)
            FAIL(ld, SMG_EPARSE, "decoder Strip: \"start\"/\"stop\" must be small integers");
        d->start = (size_t)json_integer_value(a);
        d->stop = (size_t)json_integer_value(b);
    } else if (!strcmp(t, "Replace")) {
        d->type = SMG__DEC_REPLACE;
        if ((rc = load_pattern(ld, o, "decoder Replace", &d->pat)))
            return rc;
        if (!jstr(o, "content", &s, &n))
            FAIL(ld, SMG_EPARSE, "decoder Replace: missing \"content\"");
        if (!(d->str = dupn(s, n)))
            return SMG_ENOMEM;
        d->str_len = n;
    } else if (!strcmp(t, "WordPiece")) {
        d->type = SMG__DEC_WORDPIECE;
        if (!jstr(o, "prefix", &s, &n))
            s = "##", n = 2;
        if (!(d->str = dupn(s, n)))
            return SMG_ENOMEM;
        d->str_len = n;
        d->cleanup = jbool(o, "cleanup", true);
    } else if (!strcmp(t, "BPEDecoder")) {
        d->type = SMG__DEC_BPE;
        if (!jstr(o, "suffix", &s, &n))
            s = "</w>", n = 4;
        if (!(d->str = dupn(s, n)))
            return SMG_ENOMEM;
        d->str_len = n;
    } else if (!strcmp(t, "Sequence")) {
        d->type = SMG__DEC_SEQUENCE;
        json_t *a = json_object_get(o, "decoders");
        if (!json_is_array(a))
            FAIL(ld, SMG_EPARSE, "decoder Sequence: \"decoders\" must be a list");
        size_t cnt = json_array_size(a);
        if (cnt && !(d->items = calloc(cnt, sizeof *d->items)))
            return SMG_ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            rc = load_dec(ld, json_array_get(a, i), &d->items[i], depth + 1);
            d->n = i + 1;
            if (rc)
                return rc;
        }
    } else {
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported decoder type \"%s\"", t);
    }
    return SMG_OK;
}

/* ---- added tokens --------------------------------------------------------------- */

static int load_added(ld_t *ld, json_t *a, smg_tok_t *tok, uint32_t *max_id) {
    if (!a || json_is_null(a))
        return SMG_OK;
    if (!json_is_array(a))
        FAIL(ld, SMG_EPARSE, "\"added_tokens\" must be a list");
    size_t cnt = json_array_size(a);
    if (cnt > SMG_TOK_MAX_VOCAB)
        FAIL(ld, SMG_ETOOBIG, "too many added tokens");
    if (cnt && !(tok->added = calloc(cnt, sizeof *tok->added)))
        return SMG_ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(a, i);
        json_t *jid = json_object_get(e, "id");
        const char *s;
        size_t n;
        if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
            json_integer_value(jid) >= (json_int_t)SMG_TOK_MAX_VOCAB || !jstr(e, "content", &s, &n))
            FAIL(ld, SMG_EPARSE, "added_tokens[%zu]: needs an \"id\" in range and a \"content\"",
                 i);
        if (n > SMG_TOK_MAX_TOKEN_BYTES)
            FAIL(ld, SMG_ETOOBIG, "added_tokens[%zu]: content too long", i);
        smg__tok_added_t *at = &tok->added[i];
        if (!(at->content = dupn(s, n)))
            return SMG_ENOMEM;
        tok->n_added = i + 1;
        at->len = n;
        at->id = (uint32_t)json_integer_value(jid);
        at->special = jbool(e, "special", false);
        at->single_word = jbool(e, "single_word", false);
        at->lstrip = jbool(e, "lstrip", false);
        at->rstrip = jbool(e, "rstrip", false);
        at->normalized = jbool(e, "normalized", !at->special);
        if (at->id + 1 > *max_id)
            *max_id = at->id + 1;
    }
    return SMG_OK;
}

/* ---- derived tables --------------------------------------------------------------- */

static int set_token(smg_tok_t *tok, uint32_t id, const char *s, size_t n) {
    if (tok->tok_arena.len + n > UINT32_MAX)
        return SMG_ETOOBIG;
    tok->tok_off[id] = (uint32_t)tok->tok_arena.len;
    tok->tok_len[id] = (uint32_t)n;
    return smg_buf_append(&tok->tok_arena, s, n);
}

static bool has_byte_fallback(const smg__tok_dec_t *d) {
    if (!d)
        return false;
    if (d->type == SMG__DEC_BYTEFALLBACK)
        return true;
    for (size_t i = 0; i < d->n; i++)
        if (has_byte_fallback(&d->items[i]))
            return true;
    return false;
}

static bool is_byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return false;
    for (int i = 3; i < 5; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* Raw bytes of a byte-level token string; false if a char is outside the
 * alphabet. */
static bool bytelevel_raw(const char *s, size_t n, smg_buf_t *out, int *rc) {
    size_t j = 0;
    smg_buf_reset(out);
    while (j < n) {
        uint32_t cp;
        j += smg__tok_utf8_next(s + j, n - j, &cp);
        int b = smg__tok_cp_to_byte(cp);
        if (b < 0)
            return false;
        if ((*rc = smg_buf_append_byte(out, (char)b)))
            return false;
    }
    return true;
}

int smg__tok_finish_load(smg_tok_t *tok, char *err, size_t errlen) {
    smg__tok_model_t *m = &tok->model;
    uint32_t vs = tok->vocab_size;
    tok->tok_off = calloc(vs ? vs : 1, sizeof *tok->tok_off);
    tok->tok_len = calloc(vs ? vs : 1, sizeof *tok->tok_len);
    tok->id_flags = calloc(vs ? vs : 1, 1);
    if (!tok->tok_off || !tok->tok_len || !tok->id_flags)
        return SMG_ENOMEM;
    for (uint32_t i = 0; i < vs; i++)
        tok->tok_off[i] = UINT32_MAX;
    int rc;
    smg_buf_init(&tok->tok_arena, 0);
    for (size_t e = 0; e < m->vocab.n; e++) {
        uint32_t id = m->vocab.val[e];
        if (id < vs &&
            (rc = set_token(tok, id, m->vocab.arena.ptr + m->vocab.key_off[e], m->vocab.key_len[e])))
            return rc;
    }
    /* special set: by content, as HF's is_special_token(token string) */
    smg__tok_smap_t special;
    smg__tok_smap_init(&special);
    smg__tok_smap_init(&tok->added_map);
    for (size_t i = tok->n_added; i-- > 0;) {
        smg__tok_added_t *at = &tok->added[i];
        if ((rc = smg__tok_smap_put(&tok->added_map, at->content, at->len, at->id)))
            goto out;
    }
    for (size_t i = 0; i < tok->n_added; i++) {
        smg__tok_added_t *at = &tok->added[i];
        if ((rc = set_token(tok, at->id, at->content, at->len)))
            goto out;
        tok->id_flags[at->id] |= SMG__TOK_F_ADDED;
        if (at->special && (rc = smg__tok_smap_put(&special, at->content, at->len, 1)))
            goto out;
    }
    for (uint32_t id = 0; id < vs; id++) {
        uint32_t one;
        if (tok->tok_off[id] != UINT32_MAX &&
            smg__tok_smap_get(&special, tok->tok_arena.ptr + tok->tok_off[id], tok->tok_len[id],
                              &one))
            tok->id_flags[id] |= SMG__TOK_F_SPECIAL;
    }
    if (has_byte_fallback(tok->dec))
        for (uint32_t id = 0; id < vs; id++)
            if (tok->tok_off[id] != UINT32_MAX &&
                is_byte_piece(tok->tok_arena.ptr + tok->tok_off[id], tok->tok_len[id]))
                tok->id_flags[id] |= SMG__TOK_F_BYTE;
    /* added-token matchers; normalized tokens are matched in normalized form */
    for (size_t i = 0; i < tok->n_added; i++) {
        smg__tok_added_t *at = &tok->added[i];
        if (at->normalized && tok->norm) {
            smg_buf_t nb;
            smg_buf_init(&nb, 0);
            if ((rc = smg__tok_normalize(tok->norm, at->content, at->len, &nb))) {
                smg_buf_free(&nb);
                goto out;
            }
            at->norm_len = nb.len;
            at->norm = smg_buf_detach(&nb);
            if (!at->norm && !(at->norm = calloc(1, 1))) {
                rc = SMG_ENOMEM;
                goto out;
            }
        }
        rc = at->normalized
                 ? smg__tok_trie_add(&tok->trie_norm, at->norm ? at->norm : at->content,
                                     at->norm ? at->norm_len : at->len, (int32_t)i)
                 : smg__tok_trie_add(&tok->trie_raw, at->content, at->len, (int32_t)i);
        if (rc)
            goto out;
    }
    /* byte-level fast paths */
    smg_buf_t raw;
    smg_buf_init(&raw, 0);
    if (m->type == SMG__MODEL_BPE && tok->byte_level) {
        m->byte_ids_ok = true;
        for (int b = 0; b < 256; b++) {
            char t[4];
            size_t k = smg_utf8_put(smg__tok_byte_to_cp((uint8_t)b), t);
            if (!smg__tok_smap_get(&m->vocab, t, k, &m->byte_ids[b]))
                m->byte_ids_ok = false;
        }
        if (m->ignore_merges) {
            for (size_t e = 0; e < m->vocab.n && !rc; e++) {
                int r2 = 0;
                if (bytelevel_raw(m->vocab.arena.ptr + m->vocab.key_off[e], m->vocab.key_len[e],
                                  &raw, &r2))
                    r2 = smg__tok_smap_put(&m->raw_vocab, raw.ptr ? raw.ptr : "", raw.len,
                                           m->vocab.val[e]);
                rc = r2;
            }
        }
    }
    if (!rc && tok->dec && tok->dec->type == SMG__DEC_BYTELEVEL) {
        tok->dec_bytelevel_only = true;
        tok->dbytes_off = calloc(vs ? vs : 1, sizeof(uint32_t));
        tok->dbytes_len = calloc(vs ? vs : 1, sizeof(uint32_t));
        smg_buf_init(&tok->dbytes_arena, 0);
        if (!tok->dbytes_off || !tok->dbytes_len)
            rc = SMG_ENOMEM;
        for (uint32_t id = 0; id < vs && !rc; id++) {
            if (tok->tok_off[id] == UINT32_MAX)
                continue;
            const char *s = tok->tok_arena.ptr + tok->tok_off[id];
            size_t n = tok->tok_len[id];
            int r2 = 0;
            bool ok = bytelevel_raw(s, n, &raw, &r2);
            if (r2) {
                rc = r2;
                break;
            }
            tok->dbytes_off[id] = (uint32_t)tok->dbytes_arena.len;
            if (ok) {
                tok->dbytes_len[id] = (uint32_t)raw.len;
                rc = smg_buf_append(&tok->dbytes_arena, raw.ptr ? raw.ptr : "", raw.len);
            } else {
                tok->dbytes_len[id] = (uint32_t)n;
                rc = smg_buf_append(&tok->dbytes_arena, s, n);
            }
        }
    }
    smg_buf_free(&raw);
    tok->uid = atomic_fetch_add(&next_uid, 1);
out:
    smg__tok_smap_free(&special);
    if (rc && rc != SMG_ENOMEM)
        smg__tok_errf(err, errlen, "%s: building tables: %s", tok->name, smg_status_str(rc));
    return rc;
}

/* ---- entry points --------------------------------------------------------------------- */

static int load_components(ld_t *ld, json_t *root, smg_tok_t *tok) {
    if (!json_is_object(root))
        FAIL(ld, SMG_EPARSE, "not a JSON object");
    uint32_t max_id = 0;
    int rc;
    json_t *o;
    if ((o = json_object_get(root, "normalizer")) && !json_is_null(o)) {
        if (!(tok->norm = calloc(1, sizeof *tok->norm)))
            return SMG_ENOMEM;
        if ((rc = load_norm(ld, o, tok->norm, 0)))
            return rc;
    }
    if ((o = json_object_get(root, "pre_tokenizer")) && !json_is_null(o)) {
        if (!(tok->pre = calloc(1, sizeof *tok->pre)))
            return SMG_ENOMEM;
        if ((rc = load_pre(ld, o, tok->pre, 0)))
            return rc;
        tok->byte_level = has_bytelevel(tok->pre);
    }
    if ((rc = load_model(ld, json_object_get(root, "model"), tok, &max_id)))
        return rc;
    if ((o = json_object_get(root, "post_processor")) && !json_is_null(o)) {
        if (!(tok->post = calloc(1, sizeof *tok->post)))
            return SMG_ENOMEM;
        if ((rc = load_post(ld, o, tok->post, 0)))
            return rc;
    }
    if ((o = json_object_get(root, "decoder")) && !json_is_null(o)) {
        if (!(tok->dec = calloc(1, sizeof *tok->dec)))
            return SMG_ENOMEM;
        if ((rc = load_dec(ld, o, tok->dec, 0)))
            return rc;
    }
    if ((rc = load_added(ld, json_object_get(root, "added_tokens"), tok, &max_id)))
        return rc;
    o = json_object_get(root, "truncation");
    if (o && !json_is_null(o))
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported option \"truncation\" (set it to null)");
    o = json_object_get(root, "padding");
    if (o && !json_is_null(o))
        FAIL(ld, SMG_EUNSUPPORTED, "unsupported option \"padding\" (set it to null)");
    tok->vocab_size = max_id;
    return SMG_OK;
}

int smg_tok_load_json(const char *json, size_t len, const char *name, smg_tok_t **out, char *err,
                      size_t errlen) {
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    if (!name)
        name = "tokenizer.json";
    if (len > SMG_TOK_MAX_FILE_BYTES) {
        smg__tok_errf(err, errlen, "%s: file larger than %zu bytes", name, SMG_TOK_MAX_FILE_BYTES);
        return SMG_ETOOBIG;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        smg__tok_errf(err, errlen, "%s:%d:%d: invalid JSON: %s", name, jerr.line, jerr.column,
                      jerr.text);
        return SMG_EPARSE;
    }
    smg_tok_t *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->name = strdup(name))) {
        free(tok);
        json_decref(root);
        return SMG_ENOMEM;
    }
    ld_t ld = {name, err, errlen};
    int rc = load_components(&ld, root, tok);
    json_decref(root);
    /* the JSON DOM of a large file is several times the tables we keep:
     * hand the freed pages back to the system (glibc) */
    malloc_trim(0);
    if (!rc)
        rc = smg__tok_finish_load(tok, err, errlen);
    if (rc) {
        if (rc == SMG_ENOMEM && err && errlen && !err[0])
            smg__tok_errf(err, errlen, "%s: out of memory", name);
        smg_tok_free(tok);
        return rc;
    }
    *out = tok;
    return SMG_OK;
}

void smg_tok_free(smg_tok_t *tok) {
    if (!tok)
        return;
    if (tok->norm) {
        smg__tok_norm_free(tok->norm);
        free(tok->norm);
    }
    if (tok->pre) {
        smg__tok_pre_free(tok->pre);
        free(tok->pre);
    }
    smg__tok_model_free(&tok->model);
    if (tok->post) {
        smg__tok_post_free(tok->post);
        free(tok->post);
    }
    if (tok->dec) {
        smg__tok_dec_free(tok->dec);
        free(tok->dec);
    }
    for (size_t i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].norm);
    }
    free(tok->added);
    smg__tok_trie_free(&tok->trie_raw);
    smg__tok_smap_free(&tok->added_map);
    smg__tok_trie_free(&tok->trie_norm);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->id_flags);
    smg_buf_free(&tok->tok_arena);
    free(tok->dbytes_off);
    free(tok->dbytes_len);
    smg_buf_free(&tok->dbytes_arena);
    smg_tok_config_free(tok->config);
    free(tok->eos_ids);
    free(tok->name);
    free(tok);
}

/* ---- files and directories ---------------------------------------------------------- */

/* Read a whole file (bounded). SMG_ENOTFOUND when it does not exist. */
int smg__tok_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);
int smg__tok_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return SMG_ENOTFOUND;
        smg__tok_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SMG_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        smg__tok_errf(err, errlen, "%s: not a regular file", path);
        return SMG_EIO;
    }
    if ((size_t)st.st_size > SMG_TOK_MAX_FILE_BYTES) {
        fclose(f);
        smg__tok_errf(err, errlen, "%s: file larger than %zu bytes", path, SMG_TOK_MAX_FILE_BYTES);
        return SMG_ETOOBIG;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return SMG_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        smg__tok_errf(err, errlen, "%s: short read", path);
        return SMG_EIO;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return SMG_OK;
}

static int add_eos(smg_tok_t *tok, uint32_t id) {
    for (size_t i = 0; i < tok->n_eos; i++)
        if (tok->eos_ids[i] == id)
            return SMG_OK;
    uint32_t *v = realloc(tok->eos_ids, (tok->n_eos + 1) * sizeof *v);
    if (!v)
        return SMG_ENOMEM;
    tok->eos_ids = v;
    size_t i = tok->n_eos++;
    while (i > 0 && v[i - 1] > id) {
        v[i] = v[i - 1];
        i--;
    }
    v[i] = id;
    return SMG_OK;
}

/* eos_token_id from config.json / generation_config.json: int or list. */
static int eos_from_file(smg_tok_t *tok, const char *dir, const char *file, char *err,
                         size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *data;
    size_t len;
    int rc = smg__tok_read_file(path, &data, &len, err, errlen);
    if (rc == SMG_ENOTFOUND)
        return SMG_OK;
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_DECODE_INT_AS_REAL, &jerr);
    free(data);
    if (!root) {
        smg__tok_errf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
                      jerr.text);
        return SMG_EPARSE;
    }
    json_t *e = json_object_get(root, "eos_token_id");
    rc = SMG_OK;
    size_t n = json_is_array(e) ? json_array_size(e) : 1;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *v = json_is_array(e) ? json_array_get(e, i) : e;
        double d = json_number_value(v);
        if (json_is_number(v) && d >= 0 && d < SMG_TOK_MAX_VOCAB && d == (double)(uint32_t)d)
            rc = add_eos(tok, (uint32_t)d);
    }
    json_decref(root);
    return rc;
}

int smg__tok_load_tiktoken_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen);

int smg_tok_load_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen) {
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= sizeof path) {
        smg__tok_errf(err, errlen, "%s: path too long", dir);
        return SMG_EINVAL;
    }
    char *data;
    size_t len;
    smg_tok_t *tok = NULL;
    int rc = smg__tok_read_file(path, &data, &len, err, errlen);
    if (rc == SMG_ENOTFOUND) {
        rc = smg__tok_load_tiktoken_dir(dir, &tok, err, errlen);
        if (rc == SMG_ENOTFOUND)
            smg__tok_errf(err, errlen, "%s: no tokenizer.json and no *.tiktoken file", dir);
        if (rc)
            return rc;
    } else if (rc) {
        return rc;
    } else {
        rc = smg_tok_load_json(data, len, path, &tok, err, errlen);
        free(data);
        if (rc)
            return rc;
    }
    rc = smg_tok_config_load_dir(dir, &tok->config, err, errlen);
    if (rc == SMG_ENOTFOUND)
        rc = SMG_OK;
    if (!rc && tok->config && tok->config->eos_token) {
        uint32_t id;
        if (smg_tok_token_to_id(tok, smg_str_c(tok->config->eos_token), &id))
            rc = add_eos(tok, id);
    }
    if (!rc)
        rc = eos_from_file(tok, dir, "config.json", err, errlen);
    if (!rc)
        rc = eos_from_file(tok, dir, "generation_config.json", err, errlen);
    if (rc) {
        smg_tok_free(tok);
        return rc;
    }
    *out = tok;
    return SMG_OK;
}

/* ---- tokenizer_config.json -------------------------------------------------------------- */

static int cfg_token(json_t *root, const char *k, char **out) {
    json_t *v = json_object_get(root, k);
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!json_is_string(v))
        return SMG_OK;
    *out = dupn(json_string_value(v), json_string_length(v));
    return *out ? SMG_OK : SMG_ENOMEM;
}

int smg_tok_config_parse(const char *json, size_t len, const char *name, smg_tok_config_t **out,
                         char *err, size_t errlen) {
    *out = NULL;
    if (!name)
        name = "tokenizer_config.json";
    if (len > SMG_TOK_MAX_FILE_BYTES) {
        smg__tok_errf(err, errlen, "%s: file too large", name);
        return SMG_ETOOBIG;
    }
    json_error_t jerr;
    /* model_max_length is often 1e30 written as an integer: decode ints as
     * reals rather than fail */
    json_t *root = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        smg__tok_errf(err, errlen, "%s:%d:%d: invalid JSON: %s", name, jerr.line, jerr.column,
                      jerr.text);
        return SMG_EPARSE;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        smg__tok_errf(err, errlen, "%s: not a JSON object", name);
        return SMG_EPARSE;
    }
    smg_tok_config_t *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(root);
        return SMG_ENOMEM;
    }
    c->json = root;
    int rc;
    if ((rc = cfg_token(root, "bos_token", &c->bos_token)) ||
        (rc = cfg_token(root, "eos_token", &c->eos_token)) ||
        (rc = cfg_token(root, "unk_token", &c->unk_token)) ||
        (rc = cfg_token(root, "pad_token", &c->pad_token)))
        goto fail;
    json_t *v;
    if (json_is_boolean(v = json_object_get(root, "add_bos_token"))) {
        c->has_add_bos_token = true;
        c->add_bos_token = json_is_true(v);
    }
    if (json_is_boolean(v = json_object_get(root, "add_eos_token"))) {
        c->has_add_eos_token = true;
        c->add_eos_token = json_is_true(v);
    }
    v = json_object_get(root, "chat_template");
    if (json_is_string(v)) {
        if (!(c->chat_templates = calloc(1, sizeof *c->chat_templates))) {
            rc = SMG_ENOMEM;
            goto fail;
        }
        c->n_chat_templates = 1;
        c->chat_templates[0].name = "default";
        c->chat_templates[0].template = json_string_value(v);
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n && !(c->chat_templates = calloc(n, sizeof *c->chat_templates))) {
            rc = SMG_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            json_t *nm = json_object_get(e, "name"), *tp = json_object_get(e, "template");
            if (!json_is_string(nm) || !json_is_string(tp)) {
                smg__tok_errf(err, errlen,
                              "%s: chat_template[%zu] must be {\"name\": ..., \"template\": ...}",
                              name, i);
                rc = SMG_EPARSE;
                goto fail;
            }
            c->chat_templates[c->n_chat_templates].name = json_string_value(nm);
            c->chat_templates[c->n_chat_templates].template = json_string_value(tp);
            c->n_chat_templates++;
        }
    } else if (v && !json_is_null(v)) {
        smg__tok_errf(err, errlen, "%s: chat_template must be a string or a list", name);
        rc = SMG_EPARSE;
        goto fail;
    }
    *out = c;
    return SMG_OK;
fail:
    smg_tok_config_free(c);
    return rc;
}

int smg_tok_config_load_dir(const char *dir, smg_tok_config_t **out, char *err, size_t errlen) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *data;
    size_t len;
    int rc = smg__tok_read_file(path, &data, &len, err, errlen);
    if (rc)
        return rc;
    rc = smg_tok_config_parse(data, len, path, out, err, errlen);
    free(data);
    return rc;
}

void smg_tok_config_free(smg_tok_config_t *c) {
    if (!c)
        return;
    free(c->bos_token);
    free(c->eos_token);
    free(c->unk_token);
    free(c->pad_token);
    free(c->chat_templates);
    if (c->json)
        json_decref((json_t *)c->json);
    free(c);
}

const smg_tok_config_t *smg_tok_config(const smg_tok_t *tok) {
    return tok->config;
}

const char *smg_tok_config_chat_template(const smg_tok_config_t *c, const char *name) {
    if (!c || c->n_chat_templates == 0)
        return NULL;
    const char *want = name ? name : "default";
    for (size_t i = 0; i < c->n_chat_templates; i++)
        if (!strcmp(c->chat_templates[i].name, want))
            return c->chat_templates[i].template;
    if (!name && c->n_chat_templates == 1)
        return c->chat_templates[0].template;
    return NULL;
}
