/* Prints a line, flushes it, and executes `unreachable`. */
#include <stdio.h>

int main(void) {
    printf("about to trap\n");
    fflush(stdout);
    __builtin_trap();
}
