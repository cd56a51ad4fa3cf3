/* Raw-socket HTTP/1.1 client for the server tests: blocking sockets with a
 * receive timeout, one response parsed at a time (Content-Length, chunked or
 * close-delimited), leftover bytes kept for pipelined responses. */
#ifndef SMG_TESTS_HTTP_CLIENT_TEST_H
#define SMG_TESTS_HTTP_CLIENT_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    size_t len;
    char buf[1 << 20];
} tcli_t;

typedef struct {
    int status;       /* 0 when the connection closed before a response */
    char head[8192];  /* status line + headers, NUL-terminated */
    char *body;       /* decoded body, NUL-terminated (malloc) */
    size_t body_len;
    bool chunked;
    bool eof;         /* the server closed after this response */
} tresp_t;

static inline void tsleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* rcvbuf > 0 sets SO_RCVBUF before connecting (keeps window scaling). */
static inline tcli_t *tcli_connect_rcvbuf(int port, int rcvbuf) {
    tcli_t *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return c;
}

static inline tcli_t *tcli_connect(int port) {
    return tcli_connect_rcvbuf(port, 0);
}

static inline void tcli_close(tcli_t *c) {
    if (c) {
        close(c->fd);
        free(c);
    }
}

static inline bool tcli_send(tcli_t *c, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}
#define tcli_sends(c, s) tcli_send((c), (s), strlen(s))

/* Read more bytes; false on EOF, error or timeout. */
static inline bool tcli_fill(tcli_t *c) {
    if (c->len >= sizeof c->buf)
        return false;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0)
        return false;
    c->len += (size_t)r;
    return true;
}

/* True when the peer closed the connection (EOF within the timeout). */
static inline bool tcli_wait_eof(tcli_t *c) {
    for (;;) {
        char tmp[4096];
        ssize_t r = recv(c->fd, tmp, sizeof tmp, 0);
        if (r == 0)
            return true;
        if (r < 0)
            return errno == ECONNRESET;
    }
}

static inline const char *tfind(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* Value of header `name` in a head, copied into out; false when absent. */
static inline bool thead_get(const char *head, const char *name, char *out, size_t cap) {
    size_t k = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2]) {
        p += 2;
        if (strncasecmp(p, name, k) == 0 && p[k] == ':') {
            const char *v = p + k + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return true;
        }
        p = strstr(p, "\r\n");
    }
    return false;
}

static inline void tcli_consume(tcli_t *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Read one response. A 1xx response is returned alone (head only). */
static inline tresp_t tcli_read(tcli_t *c, bool head_request) {
    tresp_t r;
    memset(&r, 0, sizeof r);
    const char *e;
    while (!(e = tfind(c->buf, c->len, "\r\n\r\n")))
        if (!tcli_fill(c)) {
            r.eof = true;
            return r;
        }
    size_t hl = (size_t)(e - c->buf) + 4;
    size_t cp = hl < sizeof r.head ? hl : sizeof r.head - 1;
    memcpy(r.head, c->buf, cp);
    r.head[cp] = 0;
    sscanf(r.head, "HTTP/%*d.%*d %d", &r.status);
    tcli_consume(c, hl);
    char v[64];
    if (r.status < 200 || head_request || r.status == 204 || r.status == 304)
        return r;
    if (thead_get(r.head, "content-length", v, sizeof v)) {
        size_t n = strtoul(v, NULL, 10);
        while (c->len < n)
            if (!tcli_fill(c))
                break;
        if (n > c->len)
            n = c->len;
        r.body = malloc(n + 1);
        memcpy(r.body, c->buf, n);
        r.body[n] = 0;
        r.body_len = n;
        tcli_consume(c, n);
    } else if (thead_get(r.head, "transfer-encoding", v, sizeof v)) {
        r.chunked = true;
        size_t cap = 1024, n = 0;
        r.body = malloc(cap);
        for (;;) {
            const char *le;
            while (!(le = tfind(c->buf, c->len, "\r\n")))
                if (!tcli_fill(c))
                    goto done;
            size_t sz = strtoul(c->buf, NULL, 16);
            size_t ll = (size_t)(le - c->buf) + 2;
            while (c->len < ll + sz + 2)
                if (!tcli_fill(c))
                    goto done;
            if (n + sz + 1 > cap) {
                while (n + sz + 1 > cap)
                    cap *= 2;
                r.body = realloc(r.body, cap);
            }
            memcpy(r.body + n, c->buf + ll, sz);
            n += sz;
            tcli_consume(c, ll + sz + 2);
            if (sz == 0)
                break;
        }
    done:
        r.body[n] = 0;
        r.body_len = n;
    } else {
        while (tcli_fill(c))
            ;
        r.body = malloc(c->len + 1);
        memcpy(r.body, c->buf, c->len);
        r.body[c->len] = 0;
        r.body_len = c->len;
        c->len = 0;
        r.eof = true;
    }
    return r;
}

static inline void tresp_free(tresp_t *r) {
    free(r->body);
    r->body = NULL;
}

#endif
