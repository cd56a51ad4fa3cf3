#include <stdio.h>
int main(void) { puts("smg-sim"); return 0; }
