/* The encode pipeline (added tokens -> normalizer -> normalized added tokens
 * -> pre-tokenizer -> model -> post-processor), decode, and lookups. */
#include <stdlib.h>
#include <string.h>

#include "token/tok_internal.h"

void smg__tok_thread_scratch_free(void);
void smg__tok_word_cache_free(void);

void smg_tok_thread_cleanup(void) {
    smg__tok_thread_scratch_free();
    smg__tok_word_cache_free();
}

/* Encode segments [from, to) of valid UTF-8 text (split by the raw
 * added-token trie) into out, without the post-processor. Segments are
 * independent: each goes through normalizer, normalized added tokens,
 * pre-tokenizer and model on its own, as in HF. ends[i] (when non-NULL)
 * receives out->len after segment i. */
int smg__tok_encode_segs(const smg_tok_t *tok, const char *text, const smg__tok_segs_t *segs,
                         size_t from, size_t to, smg_tok_ids_t *out, size_t *ends) {
    smg__tok_pieces_t pcs = {0}, tmp = {0};
    smg__tok_segs_t nsegs = {0};
    smg_buf_t nbuf;
    smg_buf_init(&pcs.arena, 0);
    smg_buf_init(&nbuf, 0);
    int rc = SMG_OK;
    for (size_t i = from; i < to && !rc; i++) {
        smg__tok_seg_t sg = segs->v[i];
        if (sg.id != SMG__TOK_NONE) {
            rc = smg__tok_ids_push(out, sg.id);
            if (ends)
                ends[i] = out->len;
            continue;
        }
        if (sg.e > sg.s) {
            smg_buf_reset(&pcs.arena);
            pcs.n = 0;
            uint32_t base = 0, blen = sg.e - sg.s;
            if (tok->norm) {
                smg_buf_reset(&nbuf);
                if ((rc = smg__tok_normalize(tok->norm, text + sg.s, sg.e - sg.s, &nbuf)) ||
                    (rc = smg_buf_append(&pcs.arena, smg_buf_str(&nbuf).ptr, nbuf.len)))
                    break;
                blen = (uint32_t)nbuf.len;
                if (nbuf.len > UINT32_MAX / 2) {
                    rc = SMG_ETOOBIG;
                    break;
                }
            } else if ((rc = smg_buf_append(&pcs.arena, text + sg.s, sg.e - sg.s))) {
                break;
            }
            if (blen && !tok->trie_norm.any) {
                rc = smg__tok_pieces_push(&pcs, base, blen, SMG__TOK_NONE, sg.s == 0);
            } else if (blen) {
                if ((rc = smg__tok_added_split(tok, &tok->trie_norm, pcs.arena.ptr, blen, &nsegs)))
                    break;
                for (size_t j = 0; j < nsegs.n && !rc; j++) {
                    smg__tok_seg_t ns = nsegs.v[j];
                    if (ns.e > ns.s)
                        rc = smg__tok_pieces_push(&pcs, ns.s, ns.e - ns.s, ns.id,
                                                  sg.s == 0 && ns.s == 0);
                }
            }
            if (!rc && tok->pre)
                rc = smg__tok_pretokenize(tok->pre, &pcs, &tmp);
            for (size_t j = 0; j < pcs.n && !rc; j++) {
                smg__tok_piece_t pc = pcs.v[j];
                if (pc.id != SMG__TOK_NONE)
                    rc = smg__tok_ids_push(out, pc.id);
                else
                    rc = smg__tok_model_tokenize(tok, pcs.arena.ptr + pc.off, pc.len, out);
            }
        }
        if (ends)
            ends[i] = out->len;
    }
    smg_buf_free(&pcs.arena);
    smg_buf_free(&nbuf);
    free(pcs.v);
    free(tmp.v);
    free(nsegs.v);
    return rc;
}

static int encode_valid(const smg_tok_t *tok, const char *text, size_t len, smg_tok_ids_t *out) {
    smg__tok_segs_t segs = {0};
    int rc = smg__tok_added_split(tok, &tok->trie_raw, text, len, &segs);
    if (!rc)
        rc = smg__tok_encode_segs(tok, text, &segs, 0, segs.n, out, NULL);
    free(segs.v);
    return rc;
}

int smg__tok_encode_raw(const smg_tok_t *tok, const char *text, size_t len, smg_tok_ids_t *out) {
    if (len > SMG_TOK_MAX_TEXT_BYTES)
        return SMG_ETOOBIG;
    if (smg__tok_utf8_valid(text, len))
        return encode_valid(tok, text, len, out);
    smg_buf_t fixed;
    smg_buf_init(&fixed, 0);
    int rc = smg__tok_utf8_lossy(text, len, &fixed);
    if (!rc)
        rc = encode_valid(tok, smg_buf_str(&fixed).ptr, fixed.len, out);
    smg_buf_free(&fixed);
    return rc;
}

int smg_tok_encode(const smg_tok_t *tok, const char *text, size_t len, bool add_special,
                   smg_tok_ids_t *out) {
    size_t start = out->len;
    int rc = smg__tok_encode_raw(tok, text, len, out);
    if (rc || !add_special || !tok->post)
        return rc;
    if (start == 0)
        return smg__tok_post_process(tok->post, out);
    smg_tok_ids_t mine = {0};
    if ((rc = smg__tok_ids_append(&mine, out->ids + start, out->len - start)) ||
        (rc = smg__tok_post_process(tok->post, &mine))) {
        smg_tok_ids_free(&mine);
        return rc;
    }
    out->len = start;
    rc = smg__tok_ids_append(out, mine.ids, mine.len);
    smg_tok_ids_free(&mine);
    return rc;
}

/* ---- decode ---------------------------------------------------------------- */

static bool id_known(const smg_tok_t *tok, uint32_t id) {
    return id < tok->vocab_size && tok->tok_off[id] != UINT32_MAX;
}

int smg_tok_decode(const smg_tok_t *tok, const uint32_t *ids, size_t n, bool skip_special,
                   char **out, size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    int rc = SMG_OK;
    smg_buf_t res;
    smg_buf_init(&res, 0);
    if (tok->dec_bytelevel_only) {
        smg_buf_t raw;
        smg_buf_init(&raw, 0);
        for (size_t i = 0; i < n && !rc; i++) {
            uint32_t id = ids[i];
            if (!id_known(tok, id) || (skip_special && (tok->id_flags[id] & SMG__TOK_F_SPECIAL)))
                continue;
            rc = smg_buf_append(&raw, tok->dbytes_arena.ptr + tok->dbytes_off[id],
                                tok->dbytes_len[id]);
        }
        if (!rc)
            rc = smg__tok_utf8_lossy(smg_buf_str(&raw).ptr, raw.len, &res);
        smg_buf_free(&raw);
    } else {
        smg__tok_strs_t toks, tmp;
        smg__tok_strs_init(&toks);
        smg__tok_strs_init(&tmp);
        for (size_t i = 0; i < n && !rc; i++) {
            uint32_t id = ids[i];
            if (!id_known(tok, id) || (skip_special && (tok->id_flags[id] & SMG__TOK_F_SPECIAL)))
                continue;
            rc = smg__tok_strs_push(&toks, tok->tok_arena.ptr + tok->tok_off[id], tok->tok_len[id]);
        }
        if (!rc && tok->dec)
            rc = smg__tok_decode_chain(tok->dec, &toks, &tmp);
        for (size_t i = 0; i < toks.n && !rc; i++) {
            if (!tok->dec && i > 0)
                rc = smg_buf_append_byte(&res, ' ');
            if (!rc)
                rc = smg_buf_append_str(&res, smg__tok_strs_at(&toks, i));
        }
        smg__tok_strs_free(&toks);
        smg__tok_strs_free(&tmp);
    }
    if (rc) {
        smg_buf_free(&res);
        return rc;
    }
    *outlen = res.len;
    *out = smg_buf_detach(&res);
    if (!*out && !(*out = calloc(1, 1)))
        return SMG_ENOMEM;
    return SMG_OK;
}

/* ---- lookups ------------------------------------------------------------------ */

bool smg_tok_token_to_id(const smg_tok_t *tok, smg_str_t t, uint32_t *id) {
    return smg__tok_smap_get(&tok->added_map, t.ptr, t.len, id) ||
           smg__tok_smap_get(&tok->model.vocab, t.ptr, t.len, id);
}

smg_str_t smg_tok_id_to_token(const smg_tok_t *tok, uint32_t id) {
    if (!id_known(tok, id))
        return SMG_STR_NULL;
    return smg_str(tok->tok_arena.ptr + tok->tok_off[id], tok->tok_len[id]);
}

uint32_t smg_tok_vocab_size(const smg_tok_t *tok) {
    return tok->vocab_size;
}

bool smg_tok_is_special(const smg_tok_t *tok, uint32_t id) {
    return id < tok->vocab_size && (tok->id_flags[id] & SMG__TOK_F_SPECIAL);
}

const uint32_t *smg_tok_eos_ids(const smg_tok_t *tok, size_t *n) {
    *n = tok->n_eos;
    return tok->eos_ids;
}

static bool cfg_id(const smg_tok_t *tok, const char *s, uint32_t *id) {
    return s && smg_tok_token_to_id(tok, smg_str_c(s), id);
}

bool smg_tok_bos_id(const smg_tok_t *tok, uint32_t *id) {
    return tok->config && cfg_id(tok, tok->config->bos_token, id);
}
bool smg_tok_eos_id(const smg_tok_t *tok, uint32_t *id) {
    return tok->config && cfg_id(tok, tok->config->eos_token, id);
}
bool smg_tok_unk_id(const smg_tok_t *tok, uint32_t *id) {
    if (tok->config && cfg_id(tok, tok->config->unk_token, id))
        return true;
    if (tok->model.unk_id != SMG__TOK_NONE) {
        *id = tok->model.unk_id;
        return true;
    }
    return false;
}
bool smg_tok_pad_id(const smg_tok_t *tok, uint32_t *id) {
    return tok->config && cfg_id(tok, tok->config->pad_token, id);
}
