/* smg entry point: subcommands of the language layer, else the gateway. */
#include <string.h>

#include "gateway/gateway.h"
#include "token/cli.h"

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "tokenize") == 0)
            return smg_cli_tokenize(argc - 1, argv + 1);
        if (strcmp(argv[1], "detokenize") == 0)
            return smg_cli_detokenize(argc - 1, argv + 1);
        if (strcmp(argv[1], "chat-template") == 0)
            return smg_cli_chat_template(argc - 1, argv + 1);
    }
    return smg_gateway_main(argc, argv);
}
