/* libFuzzer target: smg's YAML config reader (core/config.c) with smg's real option table.
 * Checks beyond "no crash": a failure gives a one-line message; a success dumps to YAML that
 * reads back to the same dump (the dump's string escaping is YAML-exact). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "gateway/options.h"

static int dump(const smg_opt_t *t, size_t n, const smg_config_t *c, smg_buf_t *b) {
    smg_buf_init(b, 0);
    return smg_config_dump(t, n, c, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    smg_config_t cfg, again;
    memset(&cfg, 0, sizeof cfg);
    memset(&again, 0, sizeof again);
    char err[256];
    if (smg_config_defaults(t, n, &cfg, err, sizeof err) != SMG_OK)
        abort();
    err[0] = '\0';
    int rc = smg_config_apply_yaml(t, n, &cfg, "fuzz.yaml", (const char *)data, size, err,
                                   sizeof err);
    if (rc == SMG_EINVAL && (err[0] == '\0' || strchr(err, '\n')))
        abort(); /* every failure is one non-empty line */
    if (rc == SMG_OK) {
        smg_buf_t b1, b2;
        if (dump(t, n, &cfg, &b1) != SMG_OK)
            abort();
        if (smg_config_defaults(t, n, &again, err, sizeof err) != SMG_OK)
            abort();
        if (smg_config_apply_yaml(t, n, &again, "dump.yaml", b1.ptr, b1.len, err, sizeof err) !=
            SMG_OK)
            abort(); /* our own dump must read back */
        if (dump(t, n, &again, &b2) != SMG_OK)
            abort();
        if (b1.len != b2.len || memcmp(b1.ptr, b2.ptr, b1.len) != 0)
            abort(); /* and mean the same */
        smg_buf_free(&b1);
        smg_buf_free(&b2);
    }
    smg_options_free(&cfg);
    smg_options_free(&again);
    return 0;
}
