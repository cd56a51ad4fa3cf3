/* HTTP/1.1 server tests: a real server on 127.0.0.1:0 in a loop thread,
 * driven over raw sockets. The parser is also tested without sockets. */
#include <stdatomic.h>

#include "core/buf.h"
#include "net/http_server.h"
#include "net/http_server_int.h"
#include "net/loop.h"
#include "http_client_test.h"
#include "unit.h"

static smg_loop_t g_loop;
static smg_http_server_t *g_srv;
static int g_port;
static atomic_int g_hold_got, g_aborted, g_drained, g_handled;
static atomic_size_t g_max_pending, g_pending_at_drain;
static smg_http_req_t *g_held;

static void abort_cb(smg_http_req_t *req, void *arg) {
    (void)arg;
    atomic_fetch_add(&g_aborted, 1);
    (void)smg_http_stream_end(req); /* release after the abort */
}

static void drain_cb(smg_http_req_t *req, void *arg) {
    (void)arg;
    atomic_store(&g_pending_at_drain, smg_http_stream_pending(req));
    atomic_store(&g_drained, 1);
    (void)smg_http_stream_write(req, SMG_STR("END"));
    (void)smg_http_stream_end(req);
}

static void handler(smg_http_req_t *req, void *ctx) {
    (void)ctx;
    atomic_fetch_add(&g_handled, 1);
    if (smg_str_eq_c(req->path, "/stream")) {
        smg_http_header_t h[] = {{SMG_STR("Content-Type"), SMG_STR("text/event-stream")}};
        EXPECT_EQ_INT(smg_http_stream_start(req, 200, h, 1), SMG_OK);
        EXPECT_EQ_INT(smg_http_stream_write(req, SMG_STR("hello")), SMG_OK);
        EXPECT_EQ_INT(smg_http_stream_write(req, SMG_STR("")), SMG_OK);
        EXPECT_EQ_INT(smg_http_stream_write(req, SMG_STR("world, 17 bytes!!")), SMG_OK);
        EXPECT_EQ_INT(smg_http_stream_end(req), SMG_OK);
        return;
    }
    if (smg_str_eq_c(req->path, "/broken")) {
        EXPECT_EQ_INT(smg_http_stream_start(req, 200, NULL, 0), SMG_OK);
        EXPECT_EQ_INT(smg_http_stream_write(req, SMG_STR("partial")), SMG_OK);
        smg_http_stream_abort(req);
        return;
    }
    if (smg_str_eq_c(req->path, "/hold")) {
        g_held = req;
        smg_http_on_abort(req, abort_cb, NULL);
        atomic_store(&g_hold_got, 1);
        return;
    }
    if (smg_str_eq_c(req->path, "/hold-stream")) {
        smg_http_on_abort(req, abort_cb, NULL);
        EXPECT_EQ_INT(smg_http_stream_start(req, 200, NULL, 0), SMG_OK);
        EXPECT_EQ_INT(smg_http_stream_write(req, SMG_STR("first")), SMG_OK);
        atomic_store(&g_hold_got, 1);
        return;
    }
    if (smg_str_eq_c(req->path, "/flood")) {
        size_t wm = smg_http_server_config(g_srv)->write_high_watermark;
        static char chunk[16384];
        memset(chunk, 'x', sizeof chunk);
        EXPECT_EQ_INT(smg_http_stream_start(req, 200, NULL, 0), SMG_OK);
        size_t rounds = 0;
        while (smg_http_stream_pending(req) <= wm && rounds++ < 100000)
            EXPECT_EQ_INT(smg_http_stream_write(req, smg_str(chunk, sizeof chunk)), SMG_OK);
        atomic_store(&g_max_pending, smg_http_stream_pending(req));
        smg_http_on_drain(req, drain_cb, NULL);
        return;
    }
    if (smg_str_eq_c(req->path, "/crlf")) {
        smg_http_header_t h[] = {{SMG_STR("X-Bad"), SMG_STR("a\r\nSet-Cookie: x=1")}};
        EXPECT_EQ_INT(smg_http_respond(req, 200, h, 1, SMG_STR("body")), SMG_EINVAL);
        return;
    }
    /* /echo and everything else: describe the request. */
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_buf_appendf(&b, "%.*s %.*s q=%.*s body=%.*s", SMG_STR_FMT(req->method),
                                  SMG_STR_FMT(req->path), SMG_STR_FMT(req->query),
                                  SMG_STR_FMT(smg_buf_str(&req->body))),
                  SMG_OK);
    smg_str_t xt = smg_http_header_get(req->headers, req->nheaders, SMG_STR("x-test"));
    smg_http_header_t h[] = {{SMG_STR("X-Echo"), xt.ptr ? xt : SMG_STR("-")}};
    EXPECT_EQ_INT(smg_http_respond(req, 200, h, 1, smg_buf_str(&b)), SMG_OK);
    smg_buf_free(&b);
}

static void start_cfg(smg_http_server_config_t *cfg) {
    cfg->host = "127.0.0.1";
    cfg->port = 0;
    EXPECT_EQ_INT(smg_loop_init(&g_loop, 0), SMG_OK);
    g_srv = smg_http_server_new(cfg, handler, NULL);
    EXPECT(g_srv != NULL);
    EXPECT_EQ_INT(smg_http_server_listen(g_srv, &g_loop), SMG_OK);
    g_port = smg_http_server_port(g_srv);
    EXPECT(g_port > 0);
    EXPECT_EQ_INT(smg_loop_start_thread(&g_loop), SMG_OK);
}

static void start(void) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    start_cfg(&cfg);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* The runner ends children with _exit, which skips LSan: check here. */
#define CHECK_LEAKS() EXPECT_EQ_INT(__lsan_do_recoverable_leak_check(), 0)
#else
#define CHECK_LEAKS() ((void)0)
#endif

static void stop(void) {
    smg_loop_stop(&g_loop);
    smg_loop_join(&g_loop);
    smg_http_server_free(g_srv);
    CHECK_LEAKS();
}

static bool wait_for(atomic_int *v, int want) {
    for (int i = 0; i < 500; i++) {
        if (atomic_load(v) >= want)
            return true;
        tsleep_ms(10);
    }
    return false;
}

static bool wait_conns(size_t want) {
    for (int i = 0; i < 500; i++) {
        if (smg_http_server_connections(g_srv) == want)
            return true;
        tsleep_ms(10);
    }
    return false;
}

static bool wait_active(size_t want) {
    for (int i = 0; i < 500; i++) {
        if (smg_http_server_active_requests(g_srv) == want)
            return true;
        tsleep_ms(10);
    }
    return false;
}

static tresp_t roundtrip(const char *raw) {
    tcli_t *c = tcli_connect(g_port);
    EXPECT(c != NULL);
    EXPECT(tcli_sends(c, raw));
    tresp_t r = tcli_read(c, false);
    tcli_close(c);
    return r;
}

/* The error body must be the OpenAI shape, and the connection must close. */
static void expect_error(tcli_t *c, int status, const char *msg_part) {
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, status);
    char v[64] = "";
    EXPECT(thead_get(r.head, "connection", v, sizeof v));
    EXPECT_EQ_STR(v, "close");
    EXPECT(r.body && strstr(r.body, "{\"error\":{\"message\":\""));
    EXPECT(r.body && strstr(r.body, "\"type\":\"invalid_request_error\",\"param\":null"));
    char code[32];
    snprintf(code, sizeof code, "\"code\":%d}}", status);
    EXPECT(r.body && strstr(r.body, code));
    if (msg_part)
        EXPECT(r.body && strstr(r.body, msg_part));
    EXPECT(tcli_wait_eof(c));
    tresp_free(&r);
}

TEST(http_simple_get) {
    start();
    tresp_t r = roundtrip("GET /echo?a=1&b=2 HTTP/1.1\r\nHost: x\r\nX-Test:  spaced value \r\n\r\n");
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_STR(r.body, "GET /echo q=a=1&b=2 body=");
    char v[64];
    EXPECT(thead_get(r.head, "x-echo", v, sizeof v));
    EXPECT_EQ_STR(v, "spaced value");
    EXPECT(thead_get(r.head, "connection", v, sizeof v));
    EXPECT_EQ_STR(v, "keep-alive");
    EXPECT(thead_get(r.head, "content-length", v, sizeof v));
    EXPECT_EQ_STR(v, "25");
    EXPECT(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    tresp_free(&r);
    stop();
}

TEST(http_keep_alive_two_requests) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "GET /one q= body=");
    tresp_free(&r);
    EXPECT(tcli_sends(c, "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
    r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "POST /two q= body=abc");
    tresp_free(&r);
    EXPECT_EQ_INT(smg_http_server_connections(g_srv), 1);
    tcli_close(c);
    EXPECT(wait_conns(0));
    stop();
}

/* Idle connections give their read buffer (with the header array inside)
 * and body block back to the listener; the next requests, on this and on
 * other connections, get recycled ones: no stale header or body byte may
 * show through, whatever the sizes. */
TEST(http_recycled_buffers_between_requests) {
    start();
    tcli_t *a = tcli_connect(g_port), *b = tcli_connect(g_port);
    char big[8192], want[4096];
    for (int round = 0; round < 3; round++) {
        /* max_headers (100) headers, the last one X-Test, and a body */
        size_t n = (size_t)snprintf(big, sizeof big, "POST /r%d HTTP/1.1\r\nHost: x\r\n", round);
        for (int i = 0; i < 96; i++)
            n += (size_t)snprintf(big + n, sizeof big - n, "X-H%d: v%d\r\n", i, round);
        n += (size_t)snprintf(big + n, sizeof big - n,
                              "X-Test: t%d\r\nContent-Length: 5\r\n\r\nbody%d", round, round);
        EXPECT(tcli_sends(a, big));
        tresp_t r = tcli_read(a, false);
        snprintf(want, sizeof want, "POST /r%d q= body=body%d", round, round);
        EXPECT_EQ_STR(r.body, want);
        char v[32] = "";
        snprintf(want, sizeof want, "t%d", round);
        EXPECT(thead_get(r.head, "x-echo", v, sizeof v));
        EXPECT_EQ_STR(v, want);
        tresp_free(&r);
        /* the other connection: fewer headers, no X-Test, a shorter body */
        EXPECT(tcli_sends(b, "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"));
        r = tcli_read(b, false);
        EXPECT_EQ_STR(r.body, "POST /s q= body=ab");
        EXPECT(thead_get(r.head, "x-echo", v, sizeof v));
        EXPECT_EQ_STR(v, "-");
        tresp_free(&r);
        /* and one without a body on the first connection */
        EXPECT(tcli_sends(a, "GET /g HTTP/1.1\r\nHost: x\r\n\r\n"));
        r = tcli_read(a, false);
        EXPECT_EQ_STR(r.body, "GET /g q= body=");
        tresp_free(&r);
    }
    tcli_close(a);
    tcli_close(b);
    EXPECT(wait_conns(0));
    stop();
}

TEST(http_pipelining_three_in_one_write) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /p?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                         "POST /p?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
                         "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /p?n=4 HTTP/1.1\r\nHost: x\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "GET /p q=n=1 body=");
    tresp_free(&r);
    r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "POST /p q=n=2 body=body");
    tresp_free(&r);
    r = tcli_read(c, false);
    EXPECT(r.chunked);
    EXPECT_EQ_STR(r.body, "helloworld, 17 bytes!!");
    tresp_free(&r);
    r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "GET /p q=n=4 body=");
    tresp_free(&r);
    tcli_close(c);
    stop();
}

TEST(http_chunked_request_body) {
    start();
    tcli_t *c = tcli_connect(g_port);
    /* Sent in pieces that split the chunk framing. */
    EXPECT(tcli_sends(c, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"));
    tsleep_ms(20);
    EXPECT(tcli_sends(c, "lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_STR(r.body, "POST /c q= body=hello world");
    tresp_free(&r);
    tcli_close(c);
    stop();
}

TEST(http_expect_100_continue) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Expect: 100-continue\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 100);
    EXPECT(strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
    EXPECT(tcli_sends(c, "12345"));
    r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_STR(r.body, "POST /e q= body=12345");
    tresp_free(&r);
    tcli_close(c);
    stop();
}

TEST(http_expect_100_continue_too_big_gets_413) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.max_body_bytes = 100;
    start_cfg(&cfg);
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n"
                         "Expect: 100-continue\r\n\r\n"));
    expect_error(c, 413, "maximum payload size");
    tcli_close(c);
    EXPECT_EQ_INT(atomic_load(&g_handled), 0);
    stop();
}

TEST(http_unknown_expect_417) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n"));
    expect_error(c, 417, "Expect");
    tcli_close(c);
    stop();
}

TEST(http_oversized_head_431) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.max_header_bytes = 1024;
    start_cfg(&cfg);
    /* Just under the limit passes. */
    char big[1100];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Test: ");
    int pad = 1024 - n - 4;
    memset(big + n, 'a', (size_t)pad);
    memcpy(big + n + pad, "\r\n\r\n", 5);
    EXPECT_EQ_INT(strlen(big), 1024);
    tresp_t r = roundtrip(big);
    EXPECT_EQ_INT(r.status, 200);
    tresp_free(&r);
    /* One byte more: 431. */
    memset(big + n, 'a', (size_t)pad + 1);
    memcpy(big + n + pad + 1, "\r\n\r\n", 5);
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, big));
    expect_error(c, 431, "head too large");
    tcli_close(c);
    stop();
}

TEST(http_too_many_headers_431) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.max_headers = 10;
    start_cfg(&cfg);
    char req[1024];
    size_t n = (size_t)snprintf(req, sizeof req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(req + n, sizeof req - n, "H%d: v\r\n", i);
    snprintf(req + n, sizeof req - n, "\r\n");
    tresp_t r = roundtrip(req);
    EXPECT_EQ_INT(r.status, 200);
    tresp_free(&r);
    snprintf(req + n, sizeof req - n, "H10: v\r\n\r\n");
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, req));
    expect_error(c, 431, "too many");
    tcli_close(c);
    stop();
}

TEST(http_body_over_cap_413) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.max_body_bytes = 100;
    start_cfg(&cfg);
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789"));
    expect_error(c, 413, "maximum payload size");
    tcli_close(c);
    /* chunked: the cap is hit while de-chunking */
    c = tcli_connect(g_port);
    char body[300];
    memset(body, 'z', sizeof body);
    EXPECT(tcli_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "64\r\n"));
    EXPECT(tcli_send(c, body, 100));
    EXPECT(tcli_sends(c, "\r\n1\r\nz\r\n"));
    expect_error(c, 413, "maximum payload size");
    tcli_close(c);
    /* exactly at the cap is fine */
    c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
    EXPECT(tcli_send(c, body, 100));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_INT(r.body_len, strlen("POST / q= body=") + 100);
    tresp_free(&r);
    tcli_close(c);
    EXPECT_EQ_INT(atomic_load(&g_handled), 1);
    stop();
}

TEST(http_malformed_400) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GARBAGE\x01 / HTTP/1.1\r\n\r\n"));
    expect_error(c, 400, NULL);
    tcli_close(c);
    c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n"));
    expect_error(c, 400, NULL);
    tcli_close(c);
    c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET / HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n"));
    expect_error(c, 400, NULL);
    tcli_close(c);
    EXPECT_EQ_INT(atomic_load(&g_handled), 0);
    stop();
}

TEST(http_slow_header_408) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.header_timeout_ms = 150;
    start_cfg(&cfg);
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET / HTTP/1.1\r\n"));
    tsleep_ms(50);
    EXPECT(tcli_sends(c, "Host: x\r\n")); /* trickling does not extend the deadline */
    expect_error(c, 408, "timed out");
    tcli_close(c);
    EXPECT(wait_conns(0));
    stop();
}

TEST(http_idle_timeout_closes_silently) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.idle_timeout_ms = 100;
    start_cfg(&cfg);
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET / HTTP/1.1\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 200);
    tresp_free(&r);
    r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT(r.eof);
    EXPECT_EQ_INT(c->len, 0); /* nothing was sent before the close */
    tcli_close(c);
    stop();
}

TEST(http_smuggling_guard_400) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    expect_error(c, 400, "Content-Length");
    tcli_close(c);
    c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Content-Length: 6\r\n\r\nabcdef"));
    expect_error(c, 400, NULL);
    tcli_close(c);
    EXPECT_EQ_INT(atomic_load(&g_handled), 0);
    stop();
}

TEST(http_unsupported_transfer_encoding_501) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         "0\r\n\r\n"));
    expect_error(c, 501, "Transfer-Encoding");
    tcli_close(c);
    stop();
}

TEST(http_streaming_chunked_framing) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    /* Raw bytes, not decoded: the framing itself is checked. */
    const char *want_tail = "5\r\nhello\r\n11\r\nworld, 17 bytes!!\r\n0\r\n\r\n";
    while (!tfind(c->buf, c->len, "0\r\n\r\n"))
        EXPECT(tcli_fill(c));
    c->buf[c->len] = 0;
    EXPECT(strstr(c->buf, "Transfer-Encoding: chunked\r\n") != NULL);
    EXPECT(strstr(c->buf, "Content-Type: text/event-stream\r\n") != NULL);
    EXPECT(strstr(c->buf, "Content-Length") == NULL);
    const char *body = strstr(c->buf, "\r\n\r\n") + 4;
    EXPECT_EQ_STR(body, want_tail);
    tcli_close(c);
    stop();
}

TEST(http_stream_abort_closes_without_last_chunk) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /broken HTTP/1.1\r\nHost: x\r\n\r\n"));
    while (tcli_fill(c))
        ;
    c->buf[c->len] = 0;
    const char *body = strstr(c->buf, "\r\n\r\n");
    EXPECT(body != NULL);
    EXPECT_EQ_STR(body + 4, "7\r\npartial\r\n");
    tcli_close(c);
    stop();
}

TEST(http_10_close_delimited_stream) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /stream HTTP/1.0\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT(strncmp(r.head, "HTTP/1.0 200 OK\r\n", 17) == 0);
    EXPECT(!r.chunked);
    EXPECT(r.eof);
    EXPECT_EQ_STR(r.body, "helloworld, 17 bytes!!");
    tresp_free(&r);
    tcli_close(c);
    /* HTTP/1.0 keep-alive only when asked */
    c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    r = tcli_read(c, false);
    char v[32];
    EXPECT(thead_get(r.head, "connection", v, sizeof v));
    EXPECT_EQ_STR(v, "keep-alive");
    tresp_free(&r);
    EXPECT(tcli_sends(c, "GET /b HTTP/1.0\r\n\r\n"));
    r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "GET /b q= body=");
    EXPECT(thead_get(r.head, "connection", v, sizeof v));
    EXPECT_EQ_STR(v, "close");
    EXPECT(tcli_wait_eof(c));
    tresp_free(&r);
    tcli_close(c);
    stop();
}

TEST(http_connection_close_honoured) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "GET /x q= body=");
    EXPECT(tcli_wait_eof(c));
    tresp_free(&r);
    tcli_close(c);
    EXPECT_EQ_INT(atomic_load(&g_handled), 1);
    stop();
}

TEST(http_backpressure_watermark_and_drain) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.write_high_watermark = 64 * 1024;
    start_cfg(&cfg);
    tcli_t *c = tcli_connect_rcvbuf(g_port, 128 * 1024);
    EXPECT(tcli_sends(c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"));
    /* Not reading: the server's queue must pass the watermark. */
    for (int i = 0; i < 500 && atomic_load(&g_max_pending) == 0; i++)
        tsleep_ms(10);
    size_t maxp = atomic_load(&g_max_pending);
    EXPECT(maxp > cfg.write_high_watermark);
    EXPECT(maxp <= cfg.write_high_watermark + 16384 + 64);
    EXPECT_EQ_INT(atomic_load(&g_drained), 0);
    /* Now read everything: the drain callback ends the stream. */
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_INT(atomic_load(&g_drained), 1);
    EXPECT(atomic_load(&g_pending_at_drain) < cfg.write_high_watermark / 2);
    EXPECT(r.body_len > maxp);
    EXPECT(r.body_len % 16384 == 3);
    EXPECT(memcmp(r.body + r.body_len - 3, "END", 3) == 0);
    tresp_free(&r);
    tcli_close(c);
    stop();
}

TEST(http_abort_when_client_closes_mid_stream) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /hold-stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT(wait_for(&g_hold_got, 1));
    while (!tfind(c->buf, c->len, "first"))
        EXPECT(tcli_fill(c));
    EXPECT_EQ_INT(smg_http_server_active_requests(g_srv), 1);
    tcli_close(c);
    EXPECT(wait_for(&g_aborted, 1));
    EXPECT(wait_conns(0));
    EXPECT(wait_active(0)); /* the gauges are updated by the loop thread */
    stop();
}

TEST(http_abort_before_response) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT(wait_for(&g_hold_got, 1));
    tcli_close(c);
    EXPECT(wait_for(&g_aborted, 1));
    EXPECT(wait_conns(0));
    stop();
}

TEST(http_connection_cap) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.max_connections = 2;
    start_cfg(&cfg);
    tcli_t *a = tcli_connect(g_port), *b = tcli_connect(g_port);
    EXPECT(wait_conns(2));
    tcli_t *x = tcli_connect(g_port); /* accepted, then closed at once */
    EXPECT(x != NULL);
    EXPECT(tcli_wait_eof(x));
    tcli_close(x);
    EXPECT(tcli_sends(a, "GET /a HTTP/1.1\r\n\r\n"));
    tresp_t r = tcli_read(a, false);
    EXPECT_EQ_STR(r.body, "GET /a q= body=");
    tresp_free(&r);
    tcli_close(b);
    EXPECT(wait_conns(1));
    x = tcli_connect(g_port); /* room again */
    EXPECT(tcli_sends(x, "GET /x HTTP/1.1\r\n\r\n"));
    r = tcli_read(x, false);
    EXPECT_EQ_INT(r.status, 200);
    tresp_free(&r);
    tcli_close(x);
    tcli_close(a);
    stop();
}

static void release_held(void *arg) {
    (void)arg;
    EXPECT_EQ_INT(smg_http_respond(g_held, 200, NULL, 0, SMG_STR("late")), SMG_OK);
}

TEST(http_stop_accepting_and_close_idle) {
    start();
    tcli_t *idle = tcli_connect(g_port);
    EXPECT(tcli_sends(idle, "GET /a HTTP/1.1\r\n\r\n"));
    tresp_t r = tcli_read(idle, false);
    EXPECT_EQ_INT(r.status, 200);
    tresp_free(&r);
    tcli_t *busy = tcli_connect(g_port);
    EXPECT(tcli_sends(busy, "GET /hold HTTP/1.1\r\n\r\n"));
    EXPECT(wait_for(&g_hold_got, 1));

    smg_http_server_stop_accepting(g_srv);
    tcli_t *late = NULL;
    for (int i = 0; i < 100; i++) { /* the close is posted to the loop */
        late = tcli_connect(g_port);
        if (!late)
            break;
        tcli_close(late);
        tsleep_ms(10);
    }
    EXPECT(late == NULL);

    smg_http_server_close_idle(g_srv);
    EXPECT(tcli_wait_eof(idle));
    EXPECT(wait_conns(1));
    /* The busy one finishes its response, then is closed (drain mode). */
    EXPECT_EQ_INT(smg_loop_post(&g_loop, release_held, NULL), SMG_OK);
    r = tcli_read(busy, false);
    EXPECT_EQ_STR(r.body, "late");
    char v[32];
    EXPECT(thead_get(r.head, "connection", v, sizeof v));
    EXPECT_EQ_STR(v, "close");
    EXPECT(tcli_wait_eof(busy));
    tresp_free(&r);
    EXPECT(wait_conns(0));
    tcli_close(idle);
    tcli_close(busy);
    stop();
}

TEST(http_stop_loop_with_open_connections_frees_all) {
    start();
    tcli_t *a = tcli_connect(g_port);
    EXPECT(tcli_sends(a, "GET /hold HTTP/1.1\r\n\r\n"));
    EXPECT(wait_for(&g_hold_got, 1));
    tcli_t *b = tcli_connect(g_port);
    EXPECT(tcli_sends(b, "GET /partial HTTP/1.1\r\nHost"));
    EXPECT(wait_conns(2));
    stop(); /* the abort callback releases the held request; LSan checks leaks */
    EXPECT_EQ_INT(atomic_load(&g_aborted), 1);
    tcli_close(a);
    tcli_close(b);
}

TEST(http_response_header_injection_refused) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "GET /crlf HTTP/1.1\r\n\r\n"));
    tresp_t r = tcli_read(c, false);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT(r.eof);
    EXPECT_EQ_INT(c->len, 0); /* nothing of the response went out */
    tcli_close(c);
    EXPECT(wait_conns(0));
    EXPECT(wait_active(0)); /* the gauges are updated by the loop thread */
    stop();
}

TEST(http_head_request_has_no_body) {
    start();
    tcli_t *c = tcli_connect(g_port);
    EXPECT(tcli_sends(c, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n"));
    tresp_t r = tcli_read(c, true);
    EXPECT_EQ_INT(r.status, 200);
    char v[32];
    EXPECT(thead_get(r.head, "content-length", v, sizeof v));
    EXPECT_EQ_STR(v, "16"); /* "HEAD /h q= body=": declared, not sent */
    r = tcli_read(c, false);
    EXPECT_EQ_STR(r.body, "GET /g q= body=");
    tresp_free(&r);
    tcli_close(c);
    stop();
}

TEST(http_two_loops_share_the_port) {
    smg_loop_t l2;
    start();
    EXPECT_EQ_INT(smg_loop_init(&l2, 1), SMG_OK);
    EXPECT_EQ_INT(smg_http_server_listen(g_srv, &l2), SMG_OK);
    EXPECT_EQ_INT(smg_http_server_port(g_srv), g_port);
    EXPECT_EQ_INT(smg_loop_start_thread(&l2), SMG_OK);
    for (int i = 0; i < 20; i++) {
        tresp_t r = roundtrip("GET /z HTTP/1.1\r\n\r\n");
        EXPECT_EQ_INT(r.status, 200);
        tresp_free(&r);
    }
    smg_loop_stop(&l2);
    smg_loop_join(&l2);
    stop();
}

/* --- parser without sockets ---------------------------------------------- */

static smg__http_conn_t *fake_conn(smg_http_server_t *srv) {
    smg__http_conn_t *c = calloc(1, sizeof *c);
    smg__http_conn_parse_init(c, srv);
    smg__http_conn_set_rbuf(c, malloc(srv->rblock));
    return c;
}

static void fake_free(smg__http_conn_t *c) {
    smg__http_conn_parse_free(c);
    free(c->rbuf);
    free(c);
}

static void fake_feed(smg__http_conn_t *c, const char *s) {
    size_t n = strlen(s);
    memcpy(c->rbuf + c->rlen, s, n);
    c->rlen += n;
}

TEST(http_parse_views_without_sockets) {
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    smg_http_server_t *srv = smg_http_server_new(&cfg, handler, NULL);
    smg__http_conn_t *c = fake_conn(srv);
    fake_feed(c, "POST http://h:1/v1/chat?stream=1#frag HTTP/1.1\r\nHost: h\r\nX-A:");
    EXPECT_EQ_INT(smg__http_parse(c), SMG__PARSE_MORE);
    fake_feed(c, " one \r\nContent-Length: 2\r\n\r\nhi");
    EXPECT_EQ_INT(smg__http_parse(c), SMG__PARSE_REQUEST);
    smg_http_req_t *r = &c->req;
    EXPECT_EQ_MEM(r->method.ptr, r->method.len, "POST");
    EXPECT_EQ_INT(r->method_id, HTTP_POST);
    EXPECT_EQ_MEM(r->path.ptr, r->path.len, "/v1/chat");
    EXPECT_EQ_MEM(r->query.ptr, r->query.len, "stream=1");
    EXPECT_EQ_INT(r->nheaders, 3);
    EXPECT_EQ_MEM(r->headers[1].name.ptr, r->headers[1].name.len, "X-A");
    EXPECT_EQ_MEM(r->headers[1].value.ptr, r->headers[1].value.len, "one");
    EXPECT_EQ_MEM(r->body.ptr, r->body.len, "hi");
    EXPECT(r->keep_alive);
    EXPECT_EQ_INT(r->http_minor, 1);
    /* next request, pipelined, with 40 headers (past the inline array) */
    smg__http_next_request(c);
    fake_feed(c, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 40; i++) {
        char line[32];
        snprintf(line, sizeof line, "H%d: %d\r\n", i, i);
        fake_feed(c, line);
    }
    fake_feed(c, "\r\n");
    EXPECT_EQ_INT(smg__http_parse(c), SMG__PARSE_REQUEST);
    EXPECT_EQ_INT(c->req.nheaders, 40);
    EXPECT_EQ_MEM(c->req.headers[39].value.ptr, c->req.headers[39].value.len, "39");
    EXPECT_EQ_MEM(c->req.path.ptr, c->req.path.len, "/");
    EXPECT_EQ_INT(c->req.query.len, 0);
    fake_free(c);
    smg_http_server_free(srv);
}

/* --- loop --------------------------------------------------------------- */

static atomic_int g_order[8];
static atomic_int g_ran;
static atomic_int g_on_loop;

static void task(void *arg) {
    int i = (int)(intptr_t)arg;
    g_order[atomic_fetch_add(&g_ran, 1)] = i;
    if (smg_loop_current() == &g_loop && smg_loop_index(smg_loop_current()) == 7)
        atomic_fetch_add(&g_on_loop, 1);
}

TEST(loop_post_runs_on_loop_thread_in_order) {
    EXPECT_EQ_INT(smg_loop_init(&g_loop, 7), SMG_OK);
    EXPECT(smg_loop_current() == NULL);
    for (int i = 0; i < 4; i++)
        EXPECT_EQ_INT(smg_loop_post(&g_loop, task, (void *)(intptr_t)i), SMG_OK);
    EXPECT_EQ_INT(smg_loop_start_thread(&g_loop), SMG_OK);
    for (int i = 4; i < 8; i++)
        EXPECT_EQ_INT(smg_loop_post(&g_loop, task, (void *)(intptr_t)i), SMG_OK);
    EXPECT(wait_for(&g_ran, 8));
    for (int i = 0; i < 8; i++)
        EXPECT_EQ_INT(g_order[i], i);
    EXPECT_EQ_INT(atomic_load(&g_on_loop), 8);
    smg_loop_stop(&g_loop);
    smg_loop_join(&g_loop);
    EXPECT_EQ_INT(smg_loop_post(&g_loop, task, NULL), SMG_ECLOSED);
}
