#include "gateway/gateway.h"

#include <stdio.h>

int smg_gateway_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "smg: gateway under construction\n");
    return 1;
}
