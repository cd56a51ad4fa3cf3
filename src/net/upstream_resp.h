/* Internal: the upstream response parser, a state machine over http-parser
 * that needs no socket (so it can be fuzzed). One per connection, reset
 * before each response; its buffers are kept and reused across responses.
 *
 * Bytes go in with smg__upresp_feed in pieces of any size. The parser calls
 * the owner's on_head once per final response (1xx interim responses are
 * skipped, 101 is an error) and on_body with dechunked body bytes. Either
 * callback may return true to stop the parser right after it; the feed then
 * returns SMG__UPRESP_STOPPED with *used telling how far it got, and the
 * rest must be fed again later (nothing is lost or repeated). */
#ifndef SMG_NET_UPSTREAM_RESP_H
#define SMG_NET_UPSTREAM_RESP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/http.h"

enum {
    SMG__UPRESP_AGAIN = 0, /* all bytes used; need more */
    SMG__UPRESP_DONE,      /* a full response ended at *used; bytes after it are not ours */
    SMG__UPRESP_STOPPED,   /* a callback asked to stop; resume by feeding from *used */
    SMG__UPRESP_ERROR,     /* malformed or over a limit; see err / err_status */
};

/* Where the current response is. */
enum {
    SMG__UPRESP_HEAD = 0, /* before the final head is complete */
    SMG__UPRESP_BODY,     /* on_head delivered, body in progress */
    SMG__UPRESP_COMPLETE, /* response ended */
    SMG__UPRESP_FAILED,   /* error; only reset leaves this state */
};

typedef struct smg__upresp_s smg__upresp_t;

typedef struct {
    /* h[0..n) views point into the parser's head buffer, valid during the call. */
    bool (*on_head)(smg__upresp_t *r, int status, const smg_http_header_t *h, size_t n);
    bool (*on_body)(smg__upresp_t *r, const char *p, size_t n);
} smg__upresp_cbs_t;

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
} smg__upresp_hoff_t;

struct smg__upresp_s {
    http_parser hp;
    const smg__upresp_cbs_t *cbs;
    void *owner;
    uint32_t max_head;    /* cap on status reason + header bytes (+4 per header) */
    bool head_request;    /* the request was HEAD: no body whatever the headers say */
    bool in_value;        /* last header callback was a value */
    bool interim;         /* current message is a 1xx */
    bool keep_alive;      /* set at completion: the connection may be reused */
    bool close_delimited; /* body ends at EOF */
    bool any_byte;        /* some byte of a response was fed since reset */
    uint8_t phase;        /* SMG__UPRESP_HEAD... */
    int status;           /* final status code, 0 before the head */
    int err_status;       /* SMG_EPARSE / SMG_ETOOBIG / SMG_ENOMEM when phase is FAILED */
    const char *err;      /* static text when phase is FAILED */
    size_t head_bytes;    /* accounted size of the current head */
    uint64_t body_bytes;  /* body bytes passed to on_body */
    smg_buf_t head;       /* header names and values, back to back */
    smg__upresp_hoff_t *offs;
    smg_http_header_t *hdrs;
    uint32_t nhdrs, cap_hdrs;
};

/* Initialise (no allocation; buffers grow on the first response). */
void smg__upresp_init(smg__upresp_t *r, const smg__upresp_cbs_t *cbs, void *owner,
                      uint32_t max_head);
/* Prepare for the next response on the same connection. */
void smg__upresp_reset(smg__upresp_t *r, bool head_request);
/* Parse up to n bytes; *used is how many were consumed. n == 0 is a no-op
 * returning AGAIN (use smg__upresp_eof for end of stream). */
int smg__upresp_feed(smg__upresp_t *r, const char *p, size_t n, size_t *used);
/* The peer closed the stream: DONE if that completes a close-delimited body
 * (or the response was already complete), ERROR otherwise. */
int smg__upresp_eof(smg__upresp_t *r);
void smg__upresp_free(smg__upresp_t *r);

#endif
