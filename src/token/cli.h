/* Command-line front ends of the language layer: `smg tokenize`,
 * `smg detokenize`, `smg chat-template`. Each takes argv after the subcommand
 * name, reads stdin, writes stdout, and returns the process exit code
 * (0 ok, 1 runtime error, 2 usage error). */
#ifndef SMG_TOKEN_CLI_H
#define SMG_TOKEN_CLI_H

int smg_cli_tokenize(int argc, char **argv);
int smg_cli_detokenize(int argc, char **argv);
int smg_cli_chat_template(int argc, char **argv);

#endif
