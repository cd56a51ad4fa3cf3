/* libFuzzer target: arbitrary bytes as an upstream's response stream, fed to
 * the socket-free response parser (net/upstream_resp.c) in pieces, with the
 * owner stopping (pausing) at callbacks and resuming, several responses in a
 * row on one "connection" while keep-alive allows, then EOF.
 *
 * Input: byte 0 = flags (bit0 HEAD request, bit1 stop in on_head, bit2 stop
 * in on_body, bits 4-7 piece size seed), then the stream. Checks: no crash,
 * no overread (ASan), header views inside the head buffer, body byte
 * accounting, progress after every stop, statuses in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/upstream_resp.h"

typedef struct {
    uint8_t flags;
    uint64_t body_seen;
    int heads;
} fz_t;

static bool fz_head(smg__upresp_t *r, int status, const smg_http_header_t *h, size_t n) {
    fz_t *f = r->owner;
    if (status < 200 || status > 599) abort();
    const char *lo = r->head.ptr, *hi = r->head.ptr ? r->head.ptr + r->head.len : NULL;
    for (size_t i = 0; i < n; i++) {
        if (h[i].name.len && (h[i].name.ptr < lo || h[i].name.ptr + h[i].name.len > hi)) abort();
        if (h[i].value.len && (h[i].value.ptr < lo || h[i].value.ptr + h[i].value.len > hi))
            abort();
        /* Touch every byte so ASan sees any bad view. */
        volatile char sink = 0;
        for (size_t j = 0; j < h[i].name.len; j++)
            sink ^= h[i].name.ptr[j];
        for (size_t j = 0; j < h[i].value.len; j++)
            sink ^= h[i].value.ptr[j];
        (void)sink;
    }
    f->heads++;
    return (f->flags & 2) != 0;
}

static bool fz_body(smg__upresp_t *r, const char *p, size_t n) {
    fz_t *f = r->owner;
    if (n == 0) abort();
    volatile char sink = p[0] ^ p[n - 1];
    (void)sink;
    f->body_seen += n;
    return (f->flags & 4) != 0 && (f->body_seen & 1);
}

static const smg__upresp_cbs_t fz_cbs = {fz_head, fz_body};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fz_t f = {.flags = data[0]};
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    size_t piece = ((size_t)(data[0] >> 4) * 7) + 1;
    smg__upresp_t r;
    smg__upresp_init(&r, &fz_cbs, &f, 2048);
    smg__upresp_reset(&r, (f.flags & 1) != 0);
    size_t off = 0, iter = 0;
    int last = SMG__UPRESP_AGAIN;
    while (off < n) {
        if (++iter > 4 * size + 100) abort(); /* no progress */
        size_t len = n - off < piece ? n - off : piece;
        size_t used = 0;
        uint64_t before = r.body_bytes;
        last = smg__upresp_feed(&r, p + off, len, &used);
        if (used > len) abort();
        if (r.body_bytes < before) abort();
        off += used;
        if (last == SMG__UPRESP_ERROR) {
            if (!r.err || r.err_status >= 0) abort();
            break;
        }
        if (last == SMG__UPRESP_DONE) {
            if (!r.keep_alive) break;
            smg__upresp_reset(&r, (f.flags & 1) != 0);
            last = SMG__UPRESP_AGAIN;
            continue;
        }
        if (last == SMG__UPRESP_AGAIN && used != len) abort();
    }
    if (last == SMG__UPRESP_AGAIN || last == SMG__UPRESP_STOPPED) {
        int st = smg__upresp_eof(&r);
        if (st != SMG__UPRESP_DONE && st != SMG__UPRESP_ERROR) abort();
    }
    smg__upresp_free(&r);
    return 0;
}
