/* placeholder replaced below */
#include "token/tok_internal.h"
int smg__tok_load_tiktoken_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen);
int smg__tok_load_tiktoken_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen) {
    (void)dir; (void)out; (void)err; (void)errlen;
    return SMG_ENOTFOUND;
}
int smg_tok_load_tiktoken(const char *data, size_t len, smg_tok_tiktoken_kind_t kind,
                          const char *name, smg_tok_t **out, char *err, size_t errlen) {
    (void)data; (void)len; (void)kind; (void)name; (void)out; (void)err; (void)errlen;
    return SMG_EUNSUPPORTED;
}
