/* Small status codes returned by everything that can fail (STYLE.md rule 7).
 * SMG_OK is 0, errors are negative. Callers map them to HTTP statuses at the
 * edge; a status never is an HTTP code itself. */
#ifndef SMG_CORE_STATUS_H
#define SMG_CORE_STATUS_H

#define SMG_STATUS_TABLE(X)                                                                        \
    X(OK, 0, "ok")                                                                                 \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(ETOOBIG, -2, "size cap exceeded")                                                            \
    X(EINVAL, -3, "invalid argument")                                                              \
    X(EPARSE, -4, "malformed input")                                                               \
    X(EIO, -5, "i/o error")                                                                        \
    X(EAGAIN, -6, "try again")                                                                     \
    X(ENOTFOUND, -7, "not found")                                                                  \
    X(ETIMEDOUT, -8, "timed out")                                                                  \
    X(EUNSUPPORTED, -9, "unsupported")                                                             \
    X(ECLOSED, -10, "closed")                                                                      \
    X(EEXIST, -11, "already exists")                                                               \
    X(ELIMIT, -12, "limit reached")

typedef enum {
#define SMG__STATUS_ENUM(name, val, msg) SMG_##name = (val),
    SMG_STATUS_TABLE(SMG__STATUS_ENUM)
#undef SMG__STATUS_ENUM
} smg_status_t;

#define SMG_MUST_CHECK __attribute__((warn_unused_result))

/* Human text of a status ("out of memory"); never NULL. */
const char *smg_status_str(int status);
/* Symbolic name ("SMG_ENOMEM"); never NULL. */
const char *smg_status_name(int status);

#endif
