/* Prints a line (buffered: exit must flush it) and exits with argv[1], or
 * 7 without arguments. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("about to exit\n");
    exit(argc > 1 ? atoi(argv[1]) : 7);
}
