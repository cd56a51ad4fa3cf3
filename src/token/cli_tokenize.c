/* Placeholder until the tokenizer lands (issue 3); replaced by the real CLI. */
#include <stdio.h>

#include "token/cli.h"

int smg_cli_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fputs("smg tokenize: not built yet\n", stderr);
    return 2;
}

int smg_cli_detokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fputs("smg detokenize: not built yet\n", stderr);
    return 2;
}
