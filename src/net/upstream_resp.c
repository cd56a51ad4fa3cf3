/* Upstream response parser: http-parser (HTTP_RESPONSE) plus the limits and
 * the framing rules a proxy needs. See upstream_resp.h for the contract.
 *
 * Pausing: a callback that wants to stop calls http_parser_pause(); the
 * parser then returns the exact number of bytes it consumed, and resumes in
 * the right state when unpaused and fed the rest. We also pause at the end of
 * every final response so the caller learns where it ended. */
#include "net/upstream_resp.h"

#include <stdlib.h>

#include "core/status.h"
#include "net/upstream-t.h"

/* Bytes charged per header line on top of name and value (": " and CRLF). */
#define HEADER_OVERHEAD 4u

static int fail(smg__upresp_t *r, int status, const char *msg) {
    if (r->phase != SMG__UPRESP_FAILED) {
        r->phase = SMG__UPRESP_FAILED;
        r->err_status = status;
        r->err = msg;
    }
    return -1;
}

static int charge(smg__upresp_t *r, size_t n) {
    r->head_bytes += n;
    if (r->head_bytes > r->max_head) return fail(r, SMG_ETOOBIG, "response head too large");
    return 0;
}

static int on_message_begin(http_parser *hp) {
    smg__upresp_t *r = hp->data;
    r->nhdrs = 0;
    smg_buf_reset(&r->head);
    r->in_value = false;
    r->interim = false;
    r->close_delimited = false;
    r->head_bytes = 0;
    r->status = 0;
    r->phase = SMG__UPRESP_HEAD;
    return 0;
}

static int on_status(http_parser *hp, const char *p, size_t n) {
    return charge(hp->data, n);
}

static int grow_headers(smg__upresp_t *r) {
    if (r->cap_hdrs >= SMG_UPSTREAM_MAX_HEADERS)
        return fail(r, SMG_ETOOBIG, "too many response headers");
    uint32_t cap = r->cap_hdrs ? r->cap_hdrs * 2 : 16;
    if (cap > SMG_UPSTREAM_MAX_HEADERS) cap = SMG_UPSTREAM_MAX_HEADERS;
    smg__upresp_hoff_t *offs = realloc(r->offs, cap * sizeof *offs);
    if (!offs) return fail(r, SMG_ENOMEM, "out of memory for response headers");
    r->offs = offs;
    smg_http_header_t *hdrs = realloc(r->hdrs, cap * sizeof *hdrs);
    if (!hdrs) return fail(r, SMG_ENOMEM, "out of memory for response headers");
    r->hdrs = hdrs;
    r->cap_hdrs = cap;
    return 0;
}

static int append_head(smg__upresp_t *r, const char *p, size_t n) {
    if (charge(r, n) != 0) return -1;
    if (smg_buf_append(&r->head, p, n) != SMG_OK)
        return fail(r, SMG_ETOOBIG, "response head too large");
    return 0;
}

static int on_header_field(http_parser *hp, const char *p, size_t n) {
    smg__upresp_t *r = hp->data;
    if (r->nhdrs == 0 || r->in_value) {
        if (r->nhdrs == r->cap_hdrs && grow_headers(r) != 0) return -1;
        if (charge(r, HEADER_OVERHEAD) != 0) return -1;
        smg__upresp_hoff_t *o = &r->offs[r->nhdrs++];
        o->name_off = (uint32_t)r->head.len;
        o->name_len = 0;
        o->value_off = (uint32_t)r->head.len;
        o->value_len = 0;
        r->in_value = false;
    }
    if (append_head(r, p, n) != 0) return -1;
    r->offs[r->nhdrs - 1].name_len += (uint32_t)n;
    return 0;
}

static int on_header_value(http_parser *hp, const char *p, size_t n) {
    smg__upresp_t *r = hp->data;
    if (r->nhdrs == 0) return fail(r, SMG_EPARSE, "header value without a name");
    smg__upresp_hoff_t *o = &r->offs[r->nhdrs - 1];
    if (!r->in_value) {
        r->in_value = true;
        o->value_off = (uint32_t)r->head.len;
        o->value_len = 0;
    }
    if (append_head(r, p, n) != 0) return -1;
    o->value_len += (uint32_t)n;
    return 0;
}

static int on_headers_complete(http_parser *hp) {
    smg__upresp_t *r = hp->data;
    int st = (int)hp->status_code;
    if (st == 101) {
        fail(r, SMG_EUNSUPPORTED, "101 Switching Protocols is not supported");
        return -1;
    }
    if (st < 100 || st > 599) {
        fail(r, SMG_EPARSE, "invalid response status code");
        return -1;
    }
    if (st < 200) {
        /* 100 Continue, 102, 103: interim, no body; the final response follows. */
        r->interim = true;
        return 1;
    }
    const char *base = r->head.ptr ? r->head.ptr : "";
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const smg__upresp_hoff_t *o = &r->offs[i];
        r->hdrs[i].name = smg_str(base + o->name_off, o->name_len);
        r->hdrs[i].value = smg_str(base + o->value_off, o->value_len);
    }
    bool skip = r->head_request || st == 204 || st == 304;
    r->close_delimited = !skip && !(hp->flags & F_CHUNKED) && hp->content_length == (uint64_t)-1;
    r->status = st;
    r->phase = SMG__UPRESP_BODY;
    if (r->cbs->on_head && r->cbs->on_head(r, st, r->hdrs, r->nhdrs)) http_parser_pause(hp, 1);
    return skip ? 1 : 0;
}

static int on_body(http_parser *hp, const char *p, size_t n) {
    smg__upresp_t *r = hp->data;
    r->body_bytes += n;
    if (r->cbs->on_body && r->cbs->on_body(r, p, n)) http_parser_pause(hp, 1);
    return 0;
}

static int on_message_complete(http_parser *hp) {
    smg__upresp_t *r = hp->data;
    if (r->interim) {
        r->interim = false;
        return 0;
    }
    r->phase = SMG__UPRESP_COMPLETE;
    r->keep_alive = http_should_keep_alive(hp) != 0;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void smg__upresp_init(smg__upresp_t *r, const smg__upresp_cbs_t *cbs, void *owner,
                      uint32_t max_head) {
    memset(r, 0, sizeof *r);
    r->cbs = cbs;
    r->owner = owner;
    r->max_head = max_head ? max_head : SMG_UPSTREAM_DEFAULT_MAX_HEAD_BYTES;
    smg_buf_init(&r->head, r->max_head);
    smg__upresp_reset(r, false);
}

void smg__upresp_reset(smg__upresp_t *r, bool head_request) {
    http_parser_init(&r->hp, HTTP_RESPONSE);
    r->hp.data = r;
    r->head_request = head_request;
    r->in_value = false;
    r->interim = false;
    r->keep_alive = false;
    r->close_delimited = false;
    r->any_byte = false;
    r->phase = SMG__UPRESP_HEAD;
    r->status = 0;
    r->err_status = SMG_OK;
    r->err = NULL;
    r->head_bytes = 0;
    r->body_bytes = 0;
    r->nhdrs = 0;
    smg_buf_reset(&r->head);
}

int smg__upresp_feed(smg__upresp_t *r, const char *p, size_t n, size_t *used) {
    *used = 0;
    if (r->phase == SMG__UPRESP_FAILED) return SMG__UPRESP_ERROR;
    if (r->phase == SMG__UPRESP_COMPLETE) return SMG__UPRESP_DONE;
    if (n == 0) return SMG__UPRESP_AGAIN;
    r->any_byte = true;
    if (HTTP_PARSER_ERRNO(&r->hp) == HPE_PAUSED) http_parser_pause(&r->hp, 0);
    size_t k = http_parser_execute(&r->hp, &settings, p, n);
    if (k > n) k = n;
    *used = k;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->hp);
    if (e == HPE_PAUSED)
        return r->phase == SMG__UPRESP_COMPLETE ? SMG__UPRESP_DONE : SMG__UPRESP_STOPPED;
    if (e != HPE_OK) {
        if (e == HPE_HEADER_OVERFLOW)
            fail(r, SMG_ETOOBIG, "response head too large");
        else
            fail(r, SMG_EPARSE, http_errno_description(e));
        return SMG__UPRESP_ERROR;
    }
    if (r->hp.upgrade) {
        fail(r, SMG_EUNSUPPORTED, "protocol upgrade is not supported");
        return SMG__UPRESP_ERROR;
    }
    if (k != n) {
        fail(r, SMG_EPARSE, "response parser stopped early");
        return SMG__UPRESP_ERROR;
    }
    return SMG__UPRESP_AGAIN;
}

int smg__upresp_eof(smg__upresp_t *r) {
    switch (r->phase) {
    case SMG__UPRESP_COMPLETE:
        return SMG__UPRESP_DONE;
    case SMG__UPRESP_FAILED:
        return SMG__UPRESP_ERROR;
    case SMG__UPRESP_HEAD:
        fail(r, SMG_ECLOSED,
             r->any_byte ? "connection closed in the response head"
                         : "connection closed before any response byte");
        return SMG__UPRESP_ERROR;
    default:
        break;
    }
    if (HTTP_PARSER_ERRNO(&r->hp) == HPE_PAUSED) http_parser_pause(&r->hp, 0);
    http_parser_execute(&r->hp, &settings, NULL, 0);
    if (r->phase == SMG__UPRESP_COMPLETE) return SMG__UPRESP_DONE;
    fail(r, SMG_ECLOSED, "connection closed mid-body (truncated response body)");
    return SMG__UPRESP_ERROR;
}

void smg__upresp_free(smg__upresp_t *r) {
    smg_buf_free(&r->head);
    free(r->offs);
    free(r->hdrs);
    r->offs = NULL;
    r->hdrs = NULL;
    r->cap_hdrs = r->nhdrs = 0;
}
