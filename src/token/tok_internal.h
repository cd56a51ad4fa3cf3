/* Internals of the tokenizer (src/token/tok_*.c). Not a public API. */
#ifndef SMG_TOKEN_TOK_INTERNAL_H
#define SMG_TOKEN_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"
#include "core/str.h"
#include "core/utf8.h"
#include "token/tok_tokenizer.h"

#define SMG__TOK_NONE UINT32_MAX

/* ---- UTF-8 -------------------------------------------------------------- */

/* Decode one code point from valid UTF-8 at p (n > 0 bytes left); returns
 * its byte length. */
size_t smg__tok_utf8_next(const char *p, size_t n, uint32_t *cp);
/* Length of the code point ending at p[n-1] (n > 0, valid UTF-8). */
size_t smg__tok_utf8_prev_len(const char *p, size_t n);
/* True when the bytes are valid UTF-8. */
bool smg__tok_utf8_valid(const char *p, size_t n);
/* Append p with every maximal invalid subpart replaced by U+FFFD (WHATWG /
 * Rust from_utf8_lossy). */
SMG_MUST_CHECK int smg__tok_utf8_lossy(const char *p, size_t n, smg_buf_t *out);
size_t smg__tok_utf8_count(const char *p, size_t n);

/* Unicode classes as Rust's char methods define them. */
bool smg__tok_is_whitespace(uint32_t cp);  /* char::is_whitespace */
bool smg__tok_is_alnum(uint32_t cp);       /* char::is_alphanumeric */
bool smg__tok_is_numeric(uint32_t cp);     /* char::is_numeric: Nd Nl No */
bool smg__tok_is_punct(uint32_t cp);       /* ASCII punctuation or P* */
bool smg__tok_is_other(uint32_t cp);       /* Cc Cf Cs Co (not Cn) */
bool smg__tok_is_mark_nonspacing(uint32_t cp);

/* ---- maps ----------------------------------------------------------------- */

/* byte string -> id. Keys are copied into the map's arena. */
typedef struct {
    uint32_t *slots; /* entry index + 1, 0 empty */
    size_t mask;
    uint32_t *key_off, *key_len, *val;
    size_t n, cap;
    smg_buf_t arena;
} smg__tok_smap_t;

void smg__tok_smap_init(smg__tok_smap_t *m);
void smg__tok_smap_free(smg__tok_smap_t *m);
/* Insert or overwrite. */
SMG_MUST_CHECK int smg__tok_smap_put(smg__tok_smap_t *m, const char *k, size_t n, uint32_t v);
bool smg__tok_smap_get(const smg__tok_smap_t *m, const char *k, size_t n, uint32_t *v);

/* (id, id) -> (rank, new id). */
typedef struct {
    uint64_t *keys; /* a << 32 | b, UINT64_MAX empty */
    uint32_t *rank, *nid;
    size_t mask, n;
} smg__tok_pmap_t;

void smg__tok_pmap_free(smg__tok_pmap_t *m);
SMG_MUST_CHECK int smg__tok_pmap_reserve(smg__tok_pmap_t *m, size_t n);
SMG_MUST_CHECK int smg__tok_pmap_put(smg__tok_pmap_t *m, uint32_t a, uint32_t b, uint32_t rank,
                                     uint32_t nid);
static inline bool smg__tok_pmap_get(const smg__tok_pmap_t *m, uint32_t a, uint32_t b,
                                     uint32_t *rank, uint32_t *nid) {
    if (!m->keys)
        return false;
    uint64_t k = (uint64_t)a << 32 | b;
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
    for (;;) {
        uint64_t s = m->keys[i];
        if (s == k) {
            *rank = m->rank[i];
            *nid = m->nid[i];
            return true;
        }
        if (s == UINT64_MAX)
            return false;
        i = (i + 1) & m->mask;
    }
}

/* ---- a list of strings in one arena (decoders) -------------------------- */

typedef struct {
    smg_buf_t arena;
    uint32_t *off, *len;
    size_t n, cap;
} smg__tok_strs_t;

void smg__tok_strs_init(smg__tok_strs_t *l);
void smg__tok_strs_free(smg__tok_strs_t *l);
void smg__tok_strs_reset(smg__tok_strs_t *l);
SMG_MUST_CHECK int smg__tok_strs_push(smg__tok_strs_t *l, const char *p, size_t n);
static inline smg_str_t smg__tok_strs_at(const smg__tok_strs_t *l, size_t i) {
    return smg_str(l->arena.ptr + l->off[i], l->len[i]);
}

/* ---- patterns (Split, Replace) -------------------------------------------- */

typedef struct {
    char *lit; /* literal pattern (String) or NULL */
    size_t lit_len;
    pcre2_code *re; /* Regex pattern or NULL */
} smg__tok_pattern_t;

/* Compile a pattern; a literal is matched as is. */
SMG_MUST_CHECK int smg__tok_pattern_init(smg__tok_pattern_t *p, const char *s, size_t n,
                                         bool regex, char *err, size_t errlen);
void smg__tok_pattern_free(smg__tok_pattern_t *p);
/* Find the next non-overlapping match at or after `from`; an empty regex match
 * is reported (the caller advances one character past it). Returns 1 found,
 * 0 none, negative status on a regex engine error. */
SMG_MUST_CHECK int smg__tok_pattern_find(const smg__tok_pattern_t *p, const char *s, size_t n,
                                         size_t from, size_t *ms, size_t *me);
/* Every match (HF find_matches): alternate (start, end, is_match) spans that
 * cover s; an empty s gives one empty non-match. */
typedef struct {
    uint32_t s, e;
    bool m;
} smg__tok_span_t;
typedef struct {
    smg__tok_span_t *v;
    size_t n, cap;
} smg__tok_spans_t;
SMG_MUST_CHECK int smg__tok_spans_push(smg__tok_spans_t *sp, size_t s, size_t e, bool m);
SMG_MUST_CHECK int smg__tok_pattern_spans(const smg__tok_pattern_t *p, const char *s, size_t n,
                                          smg__tok_spans_t *out);

/* ---- components ----------------------------------------------------------- */

typedef enum {
    SMG__NORM_NFC,
    SMG__NORM_NFKC,
    SMG__NORM_NFD,
    SMG__NORM_NFKD,
    SMG__NORM_LOWERCASE,
    SMG__NORM_PREPEND,
    SMG__NORM_REPLACE,
    SMG__NORM_STRIP,
    SMG__NORM_STRIP_ACCENTS,
    SMG__NORM_BERT,
    SMG__NORM_SEQUENCE,
} smg__tok_norm_type_t;

typedef struct smg__tok_norm_s {
    smg__tok_norm_type_t type;
    char *str; /* Prepend text, Replace content */
    size_t str_len;
    smg__tok_pattern_t pat;
    bool left, right;                                       /* Strip */
    bool clean_text, chinese, strip_accents, lowercase;     /* Bert */
    struct smg__tok_norm_s *items;                          /* Sequence */
    size_t n;
} smg__tok_norm_t;

typedef enum {
    SMG__SPLIT_REMOVED,
    SMG__SPLIT_ISOLATED,
    SMG__SPLIT_MERGED_PREV,
    SMG__SPLIT_MERGED_NEXT,
    SMG__SPLIT_CONTIGUOUS,
} smg__tok_split_behavior_t;

typedef enum {
    SMG__PRE_SPLIT,
    SMG__PRE_BYTELEVEL,
    SMG__PRE_METASPACE,
    SMG__PRE_DIGITS,
    SMG__PRE_PUNCTUATION,
    SMG__PRE_WHITESPACE,
    SMG__PRE_WHITESPACE_SPLIT,
    SMG__PRE_BERT,
    SMG__PRE_CHAR_DELIMITER,
    SMG__PRE_SEQUENCE,
} smg__tok_pre_type_t;

typedef enum { SMG__PREPEND_ALWAYS, SMG__PREPEND_FIRST, SMG__PREPEND_NEVER } smg__tok_prepend_t;

typedef struct smg__tok_pre_s {
    smg__tok_pre_type_t type;
    smg__tok_pattern_t pat;
    smg__tok_split_behavior_t behavior;
    bool invert;
    bool add_prefix_space, use_regex;   /* ByteLevel */
    char repl[8];                       /* Metaspace replacement (UTF-8) */
    size_t repl_len;
    uint32_t repl_cp;
    smg__tok_prepend_t prepend;         /* Metaspace */
    bool split;                         /* Metaspace */
    bool individual_digits;             /* Digits */
    uint32_t delim;                     /* CharDelimiterSplit */
    struct smg__tok_pre_s *items;       /* Sequence */
    size_t n;
} smg__tok_pre_t;

typedef enum { SMG__MODEL_BPE, SMG__MODEL_WORDPIECE, SMG__MODEL_WORDLEVEL } smg__tok_model_type_t;

typedef struct {
    smg__tok_model_type_t type;
    smg__tok_smap_t vocab; /* token string -> id */
    uint32_t unk_id;       /* SMG__TOK_NONE when absent */
    /* BPE */
    smg__tok_pmap_t merges;
    bool byte_fallback, fuse_unk, ignore_merges;
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix */
    size_t prefix_len, suffix_len;
    uint32_t fallback_ids[256]; /* "<0xXX>" ids or NONE */
    bool has_all_fallback;
    /* byte-level fast path: id of each byte's alphabet char */
    uint32_t byte_ids[256];
    bool byte_ids_ok;
    smg__tok_smap_t raw_vocab; /* raw bytes -> id for ignore_merges in byte mode */
    bool tiktoken;             /* ranks by concatenation (tiktoken BPE) */
    /* WordPiece */
    char *wp_prefix;
    size_t wp_prefix_len;
    size_t max_chars;
} smg__tok_model_t;

typedef enum {
    SMG__POST_BYTELEVEL,
    SMG__POST_TEMPLATE,
    SMG__POST_BERT,
    SMG__POST_ROBERTA,
    SMG__POST_SEQUENCE,
} smg__tok_post_type_t;

typedef struct {
    bool is_seq;   /* the input sequence ($A) */
    uint32_t *ids; /* the special token's ids */
    size_t n;
} smg__tok_tpl_item_t;

typedef struct smg__tok_post_s {
    smg__tok_post_type_t type;
    smg__tok_tpl_item_t *items; /* Template single / Bert / Roberta */
    size_t n_items;
    struct smg__tok_post_s *subs; /* Sequence */
    size_t n;
} smg__tok_post_t;

typedef enum {
    SMG__DEC_BYTELEVEL,
    SMG__DEC_METASPACE,
    SMG__DEC_BYTEFALLBACK,
    SMG__DEC_FUSE,
    SMG__DEC_STRIP,
    SMG__DEC_REPLACE,
    SMG__DEC_WORDPIECE,
    SMG__DEC_BPE,
    SMG__DEC_SEQUENCE,
} smg__tok_dec_type_t;

typedef struct smg__tok_dec_s {
    smg__tok_dec_type_t type;
    uint32_t cp;            /* Metaspace replacement, Strip content */
    smg__tok_prepend_t prepend;
    size_t start, stop;     /* Strip */
    smg__tok_pattern_t pat; /* Replace */
    char *str;              /* Replace content, WordPiece prefix, BPE suffix */
    size_t str_len;
    bool cleanup;           /* WordPiece */
    struct smg__tok_dec_s *items;
    size_t n;
} smg__tok_dec_t;

/* Added tokens and their matcher (a byte trie, leftmost-longest). */
typedef struct {
    char *content;
    size_t len;
    char *norm; /* content normalized (for normalized tokens) */
    size_t norm_len;
    uint32_t id;
    bool special, single_word, lstrip, rstrip, normalized;
} smg__tok_added_t;

typedef struct {
    uint32_t child, sibling; /* node indexes, 0 none */
    int32_t match;           /* added token index or -1 */
    uint8_t byte;
} smg__tok_trie_node_t;

typedef struct {
    smg__tok_trie_node_t *nodes;
    size_t n, cap;
    uint32_t root_child[256];
    bool any;
} smg__tok_trie_t;

struct smg_tok_s {
    char *name; /* file the tokenizer came from */
    smg__tok_norm_t *norm;
    smg__tok_pre_t *pre;
    smg__tok_model_t model;
    smg__tok_post_t *post;
    smg__tok_dec_t *dec;
    bool byte_level; /* a ByteLevel pre-tokenizer: pieces are raw bytes */
    smg__tok_added_t *added;
    size_t n_added;
    smg__tok_trie_t trie_raw, trie_norm;
    smg__tok_smap_t added_map; /* added content -> id (first wins) */
    /* id -> token string (model vocab or added content) */
    uint32_t *tok_off, *tok_len;
    uint8_t *id_flags; /* bit 1: special, bit 2: added */
    smg_buf_t tok_arena;
    uint32_t vocab_size;
    /* byte-level decode fast path: the bytes each id decodes to */
    bool dec_bytelevel_only;
    uint32_t *dbytes_off, *dbytes_len;
    smg_buf_t dbytes_arena;
    smg_tok_config_t *config;
    uint32_t *eos_ids;
    size_t n_eos;
    uint64_t uid; /* distinguishes tokenizers in thread-local caches */
};

#define SMG__TOK_F_SPECIAL 1u
#define SMG__TOK_F_ADDED 2u
#define SMG__TOK_F_BYTE 4u /* a "<0xXX>" piece and the decoder has ByteFallback */

/* ---- pipeline pieces ------------------------------------------------------ */

typedef struct {
    uint32_t off, len; /* bytes in the arena */
    uint32_t id;       /* a token already (added token) or NONE */
    bool origin;       /* starts at offset 0 of the original text */
} smg__tok_piece_t;

typedef struct {
    smg_buf_t arena;
    smg__tok_piece_t *v;
    size_t n, cap;
} smg__tok_pieces_t;

SMG_MUST_CHECK int smg__tok_pieces_push(smg__tok_pieces_t *p, uint32_t off, uint32_t len,
                                        uint32_t id, bool origin);

/* Normalize in[0..n) appending to out. */
SMG_MUST_CHECK int smg__tok_normalize(const smg__tok_norm_t *nm, const char *in, size_t n,
                                      smg_buf_t *out);
/* Run a pre-tokenizer over every text piece of *in (ids pass through); the
 * result replaces *in's pieces. Both share in->arena. */
SMG_MUST_CHECK int smg__tok_pretokenize(const smg__tok_pre_t *pre, smg__tok_pieces_t *in,
                                        smg__tok_pieces_t *tmp);
/* The model on one pre-token; appends ids. */
SMG_MUST_CHECK int smg__tok_model_tokenize(const smg_tok_t *tok, const char *s, size_t n,
                                           smg_tok_ids_t *out);
/* Make room for `extra` more ids (len unchanged). */
SMG_MUST_CHECK int smg__tok_ids_reserve(smg_tok_ids_t *ids, size_t extra);
SMG_MUST_CHECK int smg__tok_ids_push(smg_tok_ids_t *ids, uint32_t id);
SMG_MUST_CHECK int smg__tok_ids_append(smg_tok_ids_t *ids, const uint32_t *v, size_t n);
/* Post-processor with add_special_tokens: rewrites *ids. */
SMG_MUST_CHECK int smg__tok_post_process(const smg__tok_post_t *post, smg_tok_ids_t *ids);
/* Decoder chain over a token list (in place). */
SMG_MUST_CHECK int smg__tok_decode_chain(const smg__tok_dec_t *dec, smg__tok_strs_t *toks,
                                         smg__tok_strs_t *tmp);
/* Split text by the added-token trie (HF AddedVocabulary::find_matches):
 * segments cover s in order; id is the added token's id or NONE for text. */
typedef struct {
    uint32_t s, e, id;
} smg__tok_seg_t;
typedef struct {
    smg__tok_seg_t *v;
    size_t n, cap;
} smg__tok_segs_t;
SMG_MUST_CHECK int smg__tok_added_split(const smg_tok_t *tok, const smg__tok_trie_t *trie,
                                        const char *s, size_t n, smg__tok_segs_t *out);
SMG_MUST_CHECK int smg__tok_trie_add(smg__tok_trie_t *t, const char *s, size_t n, int32_t match);
void smg__tok_trie_free(smg__tok_trie_t *t);
/* The byte-level alphabet: byte -> code point, and back (-1 if none). */
uint32_t smg__tok_byte_to_cp(uint8_t b);
int smg__tok_cp_to_byte(uint32_t cp);

/* Build derived tables after the components are in place. */
SMG_MUST_CHECK int smg__tok_finish_load(smg_tok_t *tok, char *err, size_t errlen);

/* Free component trees. */
void smg__tok_norm_free(smg__tok_norm_t *n);
void smg__tok_pre_free(smg__tok_pre_t *p);
void smg__tok_post_free(smg__tok_post_t *p);
void smg__tok_dec_free(smg__tok_dec_t *d);
void smg__tok_model_free(smg__tok_model_t *m);

/* Encode with a known origin flag for the first text segment, without the
 * post-processor (the cache builds on it). seg_* receive the added-token
 * segmentation of the text when non-NULL. */
SMG_MUST_CHECK int smg__tok_encode_raw(const smg_tok_t *tok, const char *text, size_t len,
                                       smg_tok_ids_t *out);

SMG_MUST_CHECK int smg__tok_encode_segs(const smg_tok_t *tok, const char *text,
                                        const smg__tok_segs_t *segs, size_t from, size_t to,
                                        smg_tok_ids_t *out, size_t *ends);

/* Per-thread scratch for pcre2. */
pcre2_match_data *smg__tok_match_data(void);
pcre2_match_context *smg__tok_match_ctx(void);

void smg__tok_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
