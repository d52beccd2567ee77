/* Corpus program "sqlite": SQLite (the amalgamation bundled in the
 * libsqlite3-sys crate) driving an in-memory database.
 *
 *   sqlite [ROWS]     (default 2000)
 *
 * Inserts ROWS pseudo-random rows (a fixed LCG, so the output is
 * deterministic) in one transaction through a prepared statement, builds
 * two indexes, then runs aggregates, a GROUP BY, an indexed range scan, a
 * self-join, an UPDATE and a DELETE, printing every result. Nothing printed
 * depends on time, addresses or the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

static sqlite3 *db;

static void die(const char *what) {
    fprintf(stderr, "sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void exec(const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, err ? err : "?");
        exit(1);
    }
}

/* Prints every row of `sql`, columns separated by '|', after a label. */
static void query(const char *label, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        printf("%s:", label);
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n; i++) {
            const unsigned char *text = sqlite3_column_text(st, i);
            printf("%s%s", i ? "|" : " ", text ? (const char *)text : "NULL");
        }
        printf("\n");
    }
    if (rc != SQLITE_DONE) die(sql);
    sqlite3_finalize(st);
}

static unsigned long long lcg_state = 0x2545F4914F6CDD1DULL;

static unsigned next_u32(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(lcg_state >> 33);
}

static const char *const words[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
};

int main(int argc, char **argv) {
    long rows = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    if (rows <= 0) {
        fprintf(stderr, "usage: sqlite [ROWS]\n");
        return 2;
    }
    printf("sqlite %s, %ld rows\n", sqlite3_libversion(), rows);
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) die("open");

    exec("CREATE TABLE items(id INTEGER PRIMARY KEY, grp INTEGER NOT NULL,"
         " score INTEGER NOT NULL, price REAL NOT NULL, name TEXT NOT NULL)");
    exec("BEGIN");
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO items(grp, score, price, name) VALUES (?,?,?,?)",
                           -1, &ins, NULL) != SQLITE_OK)
        die("prepare insert");
    char name[64];
    for (long i = 0; i < rows; i++) {
        unsigned a = next_u32(), b = next_u32(), c = next_u32();
        snprintf(name, sizeof name, "%s-%s-%u", words[a % 16], words[(a >> 4) % 16],
                 b % 1000);
        sqlite3_bind_int(ins, 1, (int)(a % 97));
        sqlite3_bind_int(ins, 2, (int)(b % 100000));
        sqlite3_bind_double(ins, 3, (double)(c % 1000000) / 100.0);
        sqlite3_bind_text(ins, 4, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE) die("insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec("COMMIT");
    exec("CREATE INDEX items_grp_score ON items(grp, score)");
    exec("CREATE INDEX items_name ON items(name)");

    query("count", "SELECT count(*), sum(score), min(score), max(score),"
                   " printf('%.2f', sum(price)) FROM items");
    query("groups", "SELECT count(DISTINCT grp), count(DISTINCT name) FROM items");
    query("top", "SELECT grp, count(*), sum(score), printf('%.2f', avg(price)) FROM items"
                 " GROUP BY grp ORDER BY sum(score) DESC, grp LIMIT 5");
    query("range", "SELECT count(*), sum(score) FROM items WHERE grp = 42"
                   " AND score BETWEEN 25000 AND 75000");
    query("like", "SELECT count(*), max(name) FROM items WHERE name LIKE 'echo-%'");
    query("pairs", "SELECT count(*) FROM items a JOIN items b ON a.name = b.name"
                   " AND a.id < b.id");
    query("median", "SELECT score FROM items ORDER BY score, id"
                    " LIMIT 1 OFFSET (SELECT count(*) / 2 FROM items)");
    exec("UPDATE items SET score = score + 1 WHERE grp % 3 = 0");
    exec("DELETE FROM items WHERE score % 7 = 0");
    query("after", "SELECT count(*), sum(score), total(length(name)) FROM items");
    query("check", "PRAGMA integrity_check");
    sqlite3_close(db);
    return 0;
}
