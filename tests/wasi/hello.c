/* Prints its arguments, one environment variable and the size of the
 * environment; a line to stderr. */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("hello from wasi\n");
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    int n = 0;
    for (char **e = environ; *e; e++)
        n++;
    printf("environ has %d entries\n", n);
    fprintf(stderr, "hello on stderr\n");
    return 0;
}
