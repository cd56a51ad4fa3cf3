/* tokenizer.json bytes -> load must fail cleanly (status + message) or
 * succeed; a loaded tokenizer must then encode and decode without faults. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token/tok_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    smg_tok_t *t = NULL;
    char err[256];
    int rc = smg_tok_load_json((const char *)data, size, "fuzz.json", &t, err, sizeof err);
    if (rc) {
        if (t != NULL || err[0] == 0)
            abort(); /* a failure must leave no tokenizer and say why */
        return 0;
    }
    static const char *texts[] = {"Hello world <s> 123 \xC3\xA9\xF0\x9F\x98\x80", "", "  \n\t x",
                                  "\xFF\xFE bad"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        smg_tok_ids_t ids = {0};
        if (smg_tok_encode(t, texts[i], strlen(texts[i]), i & 1, &ids) == SMG_OK) {
            char *out = NULL;
            size_t n;
            if (smg_tok_decode(t, ids.ids, ids.len, false, &out, &n) == SMG_OK)
                free(out);
        }
        smg_tok_ids_free(&ids);
    }
    uint32_t probe[] = {0, 1, 2, 3, 100, 1000, 65535, 4000000};
    char *out = NULL;
    size_t n;
    if (smg_tok_decode(t, probe, 8, true, &out, &n) == SMG_OK)
        free(out);
    smg_tok_free(t);
    return 0;
}
