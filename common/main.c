/* main.c — placeholder until the CLI lands (being written now). */
#include <stdio.h>
int main(void) { puts("nudge " ND_VERSION); return 0; }
