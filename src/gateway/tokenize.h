/* Local /v1/tokenize and /v1/detokenize (issue 3): with --tokenizer-path the
 * gateway answers them itself, in the reference system's format, instead of
 * proxying them to a worker. */
#ifndef SMG_GATEWAY_TOKENIZE_H
#define SMG_GATEWAY_TOKENIZE_H

#include "core/config.h"
#include "gateway/gw.h"

/* Load every --tokenizer-path entry ("DIR" serves any model, "MODEL=DIR" that
 * model). Returns SMG_OK or an error with a one-line reason naming the file. */
SMG_MUST_CHECK int smg_gw_tokenizers_load(smg_gw_t *gw, const smg_strlist_t *paths, char *err,
                                          size_t errlen);
void smg_gw_tokenizers_free(smg_gw_t *gw);
/* True when a local tokenizer answers this route. */
bool smg_gw_tokenize_local(const smg_gw_t *gw);
void smg_gw_tokenize(smg_gw_t *gw, smg_http_req_t *req, const char *reqid);
void smg_gw_detokenize(smg_gw_t *gw, smg_http_req_t *req, const char *reqid);

#endif
