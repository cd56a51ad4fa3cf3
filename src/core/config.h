/* Table-driven configuration (STYLE.md rule 10).
 *
 * A program declares each option once in an array of smg_opt_t: its name, type, the offset of
 * its field in the program's config struct, default, bounds, choices, help text and section.
 * From that one table come the command-line flags (`--name value`, `--name=value`), the YAML
 * keys of `--config FILE` (the same names, '-' or '_'), `--help`, the Markdown reference
 * (docs/configuration.md) and a dump of the effective values with secrets hidden.
 *
 * Precedence: defaults < YAML file < command line.
 *
 * Field types, by option type:
 *   SMG_OPT_BOOL     bool           flag without value; also --x=true|false|1|0|yes|no
 *   SMG_OPT_INT      int64_t        decimal, checked against [min, max]
 *   SMG_OPT_SIZE     int64_t        bytes: decimal, optional suffix K/M/G/KiB/MiB/GiB (x1024)
 *   SMG_OPT_DOUBLE   double         finite decimal, checked against [dmin, dmax]
 *   SMG_OPT_STRING   char *         heap C string, NULL when unset (def == NULL)
 *   SMG_OPT_STRLIST  smg_strlist_t  heap array of heap C strings
 *   SMG_OPT_ENUM     int            index of the value in `choices` ("a|b|c": a=0, b=1, c=2)
 *
 * Names: on the command line and in the file, '_' may stand for '-' (`--worker_urls`).
 * An unknown name is an error, with a "did you mean" hint when one option is close.
 *
 * Lists on the command line: `--worker-urls a b c` takes every following argument up to the next
 * one starting with "--"; a later occurrence appends. With SMG_OPTF_REPEATABLE a list takes one
 * value per occurrence (`--tokenizer-path A --tokenizer-path B`). `--list=` (empty) clears it.
 * The first command-line occurrence of a list replaces what the file set. Other options given
 * twice on the command line are an error.
 *
 * Lifetime: everything the parser stores (strings, lists) is owned by the config struct and
 * released by smg_config_free(). Not thread-safe; called once at start-up. */
#ifndef SMG_CORE_CONFIG_H
#define SMG_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/status.h"

typedef enum {
    SMG_OPT_BOOL,
    SMG_OPT_INT,
    SMG_OPT_SIZE,
    SMG_OPT_DOUBLE,
    SMG_OPT_STRING,
    SMG_OPT_STRLIST,
    SMG_OPT_ENUM,
} smg_opt_type_t;

enum {
    /* The value is a credential: smg_config_dump() prints it as "<hidden>". */
    SMG_OPTF_SECRET = 1u << 0,
    /* STRLIST: one value per occurrence instead of all following arguments. */
    SMG_OPTF_REPEATABLE = 1u << 1,
    /* Command line only (e.g. --config itself); a YAML key of that name is an error. */
    SMG_OPTF_CLI_ONLY = 1u << 2,
    /* The option names the YAML file to read (type STRING, CLI only). */
    SMG_OPTF_CONFIG_FILE = 1u << 3,
    /* BOOL action such as --help or --version: when present on the command line the parser
     * sets it, stops, and returns SMG_CONFIG_EXIT without reading anything else. */
    SMG_OPTF_EXIT = 1u << 4,
    /* Left out of --help, the Markdown table and dumps (internal or hidden aliases). */
    SMG_OPTF_HIDDEN = 1u << 5,
};

/* A list of heap C strings. items is NULL when len == 0. */
typedef struct {
    char **items;
    size_t len;
} smg_strlist_t;

typedef struct smg_opt_s {
    const char *name;    /* "worker-urls": lowercase, digits, '-' */
    smg_opt_type_t type;
    size_t offset;       /* offsetof(config struct, field) */
    /* Default as text, parsed like a command-line value (must be valid; a bad default is a
     * programming error reported by smg_config_parse as SMG_EINVAL). NULL: false, 0, NULL, empty
     * list, first choice. STRLIST: values separated by single spaces. */
    const char *def;
    int64_t min, max;    /* INT and SIZE bounds, inclusive; min == max == 0 means unbounded */
    double dmin, dmax;   /* DOUBLE bounds, inclusive; dmin == dmax == 0 means unbounded */
    const char *choices; /* ENUM: "random|round_robin|power_of_two" */
    const char *metavar; /* "URL..."; NULL: derived from the type */
    const char *help;    /* one or more sentences, no trailing newline */
    const char *section; /* "Server", "Workers", ...; NULL: "Other" */
    unsigned flags;      /* SMG_OPTF_* */
} smg_opt_t;

/* Positive return of smg_config_parse: an SMG_OPTF_EXIT option (--help, --version...) was given;
 * its bool field is true, defaults are applied, nothing else was read. */
#define SMG_CONFIG_EXIT 1

/* Parse into cfg (a zeroed struct the table describes; a previous parse must have been freed).
 * argv[0] is the program name and is skipped. Applies defaults, then the YAML file named by the
 * SMG_OPTF_CONFIG_FILE option if given on the command line, then the command line.
 * Returns SMG_OK, SMG_CONFIG_EXIT, SMG_ENOMEM, or SMG_EINVAL with a one-line reason in err
 * ("unknown option --foo", "--port: 70000 is out of range 0..65535",
 * "smg.yaml:3: port: expected integer"). On failure cfg holds partial values: call
 * smg_config_free() in every case. */
SMG_MUST_CHECK int smg_config_parse(const smg_opt_t *table, size_t n, void *cfg, int argc,
                                    char **argv, char *err, size_t errlen);

/* Apply defaults only. Same returns as smg_config_parse. */
SMG_MUST_CHECK int smg_config_defaults(const smg_opt_t *table, size_t n, void *cfg, char *err,
                                       size_t errlen);

/* Apply a YAML document held in memory on top of cfg (the file step of smg_config_parse, also
 * the fuzzing entry). `name` is used in messages. Limits: at most SMG_CONFIG_MAX_FILE bytes,
 * nesting depth SMG_CONFIG_MAX_DEPTH, no aliases, one document, top level a mapping. */
#define SMG_CONFIG_MAX_FILE (1u << 20)
#define SMG_CONFIG_MAX_DEPTH 8
SMG_MUST_CHECK int smg_config_apply_yaml(const smg_opt_t *table, size_t n, void *cfg,
                                         const char *name, const char *data, size_t len,
                                         char *err, size_t errlen);

/* Free every string and list the table describes and zero those fields. Safe on a zeroed or
 * partially parsed struct, and twice. */
void smg_config_free(const smg_opt_t *table, size_t n, void *cfg);

/* `--help` text: options grouped by section (in table order of first appearance), each with its
 * metavar, help, choices, range and default. Hidden options are left out. */
void smg_config_help(const smg_opt_t *table, size_t n, FILE *out);

/* The same as Markdown: one "## Section" heading and one table per section. */
void smg_config_markdown(const smg_opt_t *table, size_t n, FILE *out);

/* Effective values as YAML ("name: value" lines, strings double-quoted) that
 * smg_config_apply_yaml reads back, except that secrets that are set print as "<hidden>" and
 * CLI-only options are left out. Fails only with SMG_ENOMEM / SMG_ETOOBIG from out. */
SMG_MUST_CHECK int smg_config_dump(const smg_opt_t *table, size_t n, const void *cfg,
                                   smg_buf_t *out);

/* The option called `name` (dashes or underscores), or NULL. */
const smg_opt_t *smg_config_find(const smg_opt_t *table, size_t n, const char *name, size_t len);

/* Name of choice `idx` of an ENUM option, into out (NUL-terminated, truncated to outlen).
 * Returns out, or "" for an index out of range. */
const char *smg_config_enum_name(const smg_opt_t *opt, int idx, char *out, size_t outlen);

#endif
