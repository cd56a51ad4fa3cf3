#include <stdio.h>
int main(void) { puts("smg"); return 0; }
