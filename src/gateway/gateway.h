/* The gateway process: parse configuration, start loop threads, serve until
 * SIGTERM/SIGINT, drain, exit. Returns the process exit code. */
#ifndef SMG_GATEWAY_GATEWAY_H
#define SMG_GATEWAY_GATEWAY_H

int smg_gateway_main(int argc, char **argv);

#endif
