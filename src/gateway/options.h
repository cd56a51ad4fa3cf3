/* smg's options: one table (options.c) gives the command-line flags, the YAML keys of
 * --config FILE, --help, --help-markdown (docs/configuration.md) and the start-up dump.
 * Flag names and defaults are the reference's (reference/smg-core-inventory.md §5) unless the
 * help text says otherwise. */
#ifndef SMG_GATEWAY_OPTIONS_H
#define SMG_GATEWAY_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

#ifndef SMG_VERSION
#define SMG_VERSION "0.1.0"
#endif

/* --policy values, in the order of the option's choices. */
typedef enum {
    SMG_POLICY_RANDOM = 0,
    SMG_POLICY_ROUND_ROBIN = 1,
    SMG_POLICY_POWER_OF_TWO = 2,
} smg_policy_kind_t;

/* Every field is owned by the struct: release with smg_options_free(). --log-level is an index
 * into "error|warn|info|debug|trace", equal to smg_log_level_t. */
typedef struct smg_config_s {
    /* Server */
    char *host;
    int64_t port;
    int64_t threads; /* 0: number of cores */
    smg_strlist_t request_id_headers;
    int64_t shutdown_grace_period_secs;
    /* Workers */
    smg_strlist_t worker_urls;
    /* Routing */
    int policy; /* smg_policy_kind_t */
    bool disable_retries;
    int64_t retry_max_retries; /* retries after the first attempt */
    /* Health */
    int64_t health_check_interval_secs;
    int64_t health_check_timeout_secs;
    int64_t health_failure_threshold;
    int64_t health_success_threshold;
    char *health_check_endpoint;
    bool disable_health_check;
    /* Limits */
    int64_t request_timeout_secs;
    int64_t max_payload_size;
    int64_t max_connections;
    int64_t keep_alive_timeout_secs;
    int64_t header_timeout_secs;
    int64_t max_header_size;
    int64_t max_headers;
    /* Security */
    char *api_key;       /* NULL: no data-plane auth */
    char *admin_api_key; /* NULL: admin routes use api_key */
    /* Observability */
    int log_level; /* smg_log_level_t */
    bool log_json;
    char *prometheus_host;
    int64_t prometheus_port; /* 0: no metrics listener */
    /* Tokenizer */
    smg_strlist_t tokenizer_path; /* "DIR" or "MODEL=DIR" */
    /* Command line only */
    char *config;
    bool help;
    bool version;
    bool help_markdown;
} smg_config_t;

/* The option table (static storage) and its length. */
const smg_opt_t *smg_options(size_t *n);

/* Checks that span options or look inside values (worker URL schemes, endpoint shape).
 * Returns SMG_OK or SMG_EINVAL with a one-line reason in err. */
SMG_MUST_CHECK int smg_options_validate(const smg_config_t *cfg, char *err, size_t errlen);

/* Everything main needs: parse argv (argv[0] is the program name) into a zeroed cfg, validate,
 * and handle --help / --version / --help-markdown (printed on stdout) and errors (one line
 * "smg: <reason>" on stderr). Returns SMG_OK when the gateway should run with cfg; otherwise cfg
 * is already freed and *exit_code is what main returns (0 after help or version, 2 for a usage
 * error, 1 for out of memory). */
SMG_MUST_CHECK int smg_options_load(smg_config_t *cfg, int argc, char **argv, int *exit_code);

void smg_options_free(smg_config_t *cfg);

/* docs/configuration.md: a title, how to give options, then smg_config_markdown() of the table.
 * What --help-markdown prints. */
void smg_options_markdown(FILE *out);

#endif
