/* Placeholder until the chat-template engine lands (issue 3). */
#include <stdio.h>

#include "token/cli.h"

int smg_cli_chat_template(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fputs("smg chat-template: not built yet\n", stderr);
    return 2;
}
