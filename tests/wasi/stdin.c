/* Copies stdin to stdout in upper case, then reports the byte count on
 * stderr. */
#include <ctype.h>
#include <stdio.h>

int main(void) {
    char buf[100];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        fwrite(buf, 1, n, stdout);
        total += n;
    }
    fprintf(stderr, "read %zu bytes\n", total);
    return ferror(stdin) ? 1 : 0;
}
