/*
 * notecreate.c — the custom NOTECREATEREC through the header `billsim header notecreate`
 * generates (included as "notecreate.h"), for tests/wire/test_c_crosscheck.py.
 *
 *   notecreate write pad-union|compact   known NOTECREATEREC frames to stdout
 *   notecreate read pad-union|compact    frames from stdin, as name=value lines
 *   notecreate layout                    sizeof and offsetof of NOTECREATEREC
 *
 * As a BILLMNGR-style add-in would: the BILLMSG header through billmsg.h's struct,
 * the custom record copied to and from offsetof(BILLMSG, rec) with memcpy (in the
 * win32 layout it is not aligned). `read` prints frame=, offset=, Len, StructType,
 * Class, ServerName, TimeStamp; for a NOTECREATEREC also its fields (rec.Username,
 * rec.dbNoteID, rec.ReplicaID.Innards[0..1]) and canonical=identical if building the
 * frame again from those values gives the same bytes (every padding byte zero), else
 * canonical=differs at byte N; other struct types get rec=other. Strings are quoted
 * as tests/c/crosscheck.c quotes them.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notecreate.h"

#define REC_OFFSET offsetof(BILLMSG, rec)

enum framing { PAD_UNION, COMPACT };

static unsigned char in[MQ_MAX_MSGSIZE];
static unsigned char out[MQ_MAX_MSGSIZE];

static void die(const char *what) {
    fprintf(stderr, "notecreate: %s\n", what);
    exit(2);
}

static TIMEDATE td(DWORD innards0, DWORD innards1) {
    TIMEDATE t;
    t.Innards[0] = innards0;
    t.Innards[1] = innards1;
    return t;
}

/* Up to its NUL (or the whole array if it has none). */
static size_t array_len(const char *array, size_t cap) {
    const char *end = memchr(array, 0, cap);
    return end ? (size_t)(end - array) : cap;
}

/* A NOTECREATEREC frame into `buf` (zeroed first); returns its Len. */
static size_t build(unsigned char *buf, enum framing framing, const char *server, size_t server_len,
                    TIMEDATE stamp, const NOTECREATEREC *rec) {
    BILLMSG header;
    size_t n = REC_OFFSET + sizeof(NOTECREATEREC);
    memset(buf, 0, MQ_MAX_MSGSIZE);
    memset(&header, 0, sizeof header);
    if (framing == PAD_UNION && n < sizeof(BILLMSG)) n = sizeof(BILLMSG);
    header.Len = (WORD)n;
    header.StructType = BILL_NOTECREATEREC;
    header.Class = BILLSIM_NOTECREATEREC_CLASS;
    if (server_len >= sizeof header.ServerName) die("server name too long");
    memcpy(header.ServerName, server, server_len);
    header.TimeStamp = stamp;
    memcpy(buf, &header, REC_OFFSET);
    memcpy(buf + REC_OFFSET, rec, sizeof *rec);
    return n;
}

static NOTECREATEREC note(const char *user, NOTEID id, TIMEDATE replica) {
    NOTECREATEREC r;
    memset(&r, 0, sizeof r);
    if (strlen(user) >= sizeof r.Username) die("user name too long");
    memcpy(r.Username, user, strlen(user));
    r.dbNoteID = id;
    r.ReplicaID = replica;
    return r;
}

/* Keep in step with KNOWN_NOTES in tests/wire/test_c_crosscheck.py. */
static int write_known(enum framing framing) {
    static const char server[] = "CN=Mail01/O=Acme";
    char long_name[MAXUSERNAME + 1];
    NOTECREATEREC recs[3];
    TIMEDATE stamps[3];
    size_t i;
    memset(long_name, 'n', MAXUSERNAME);
    long_name[MAXUSERNAME] = 0;
    recs[0] = note("CN=Alice Smith/O=Acme", 0x20FA, td(0x0052C1F1, 0x85258A3B));
    recs[1] = note("", 0, td(0, 0));
    recs[2] = note(long_name, 0xFFFFFFFFu, td(0xFFFFFFFFu, 0xFFFFFFFFu));
    stamps[0] = td(5040000, 2461366);
    stamps[1] = td(0, 0);
    stamps[2] = td(8639999, 0xC0000000u | 2461366);
    for (i = 0; i < 3; i++) {
        size_t n = build(out, framing, server, sizeof server - 1, stamps[i], &recs[i]);
        if (fwrite(out, 1, n, stdout) != n) return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static void print_bytes(const char *name, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t i;
    printf("%s=\"", name);
    for (i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\') {
            putchar(p[i]);
        } else {
            printf("\\x%02x", p[i]);
        }
    }
    printf("\"\n");
}

static void print_td(const char *name, TIMEDATE t) {
    printf("%s.Innards[0]=%" PRIu32 "\n", name, t.Innards[0]);
    printf("%s.Innards[1]=%" PRIu32 "\n", name, t.Innards[1]);
}

static int read_frames(enum framing framing) {
    unsigned long offset = 0;
    unsigned long index = 0;
    for (;;) {
        BILLMSG header;
        NOTECREATEREC rec;
        size_t got, len, rebuilt, i, server_len;
        memset(in, 0, sizeof in);
        got = fread(in, 1, 2, stdin);
        if (got == 0) break;
        if (got < 2) die("stream ends inside Len");
        len = (size_t)in[0] | ((size_t)in[1] << 8);
        if (len < REC_OFFSET || len > MQ_MAX_MSGSIZE) die("Len out of range");
        if (fread(in + 2, 1, len - 2, stdin) != len - 2) die("stream ends inside a frame");
        memcpy(&header, in, REC_OFFSET);
        printf("frame=%lu\n", index);
        printf("offset=%lu\n", offset);
        printf("Len=%u\n", (unsigned)header.Len);
        printf("StructType=%u\n", (unsigned)header.StructType);
        printf("Class=%" PRIu32 "\n", header.Class);
        server_len = array_len(header.ServerName, sizeof header.ServerName);
        print_bytes("ServerName", header.ServerName, server_len);
        print_td("TimeStamp", header.TimeStamp);
        if (header.StructType != BILL_NOTECREATEREC) {
            printf("rec=other\n");
        } else {
            if (len < REC_OFFSET + sizeof rec) die("Len too small for a NOTECREATEREC");
            memcpy(&rec, in + REC_OFFSET, sizeof rec);
            print_bytes("rec.Username", rec.Username, array_len(rec.Username, sizeof rec.Username));
            printf("rec.dbNoteID=%" PRIu32 "\n", rec.dbNoteID);
            print_td("rec.ReplicaID", rec.ReplicaID);
            rebuilt = build(out, framing, header.ServerName, server_len, header.TimeStamp,
                            &rec);
            for (i = 0; i < len && i < rebuilt && in[i] == out[i]; i++) continue;
            if (i == len && i == rebuilt) {
                printf("canonical=identical\n");
            } else {
                printf("canonical=differs at byte %zu\n", i);
            }
        }
        offset += (unsigned long)len;
        index++;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static int print_layout(void) {
    printf("NOTECREATEREC.sizeof=%zu\n", sizeof(NOTECREATEREC));
    printf("NOTECREATEREC.Username=%zu\n", offsetof(NOTECREATEREC, Username));
    printf("NOTECREATEREC.dbNoteID=%zu\n", offsetof(NOTECREATEREC, dbNoteID));
    printf("NOTECREATEREC.ReplicaID=%zu\n", offsetof(NOTECREATEREC, ReplicaID));
    printf("BILL_NOTECREATEREC=%d\n", BILL_NOTECREATEREC);
    printf("BILLSIM_NOTECREATEREC_CLASS=%d\n", BILLSIM_NOTECREATEREC_CLASS);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    enum framing framing;
    if (argc == 2 && strcmp(argv[1], "layout") == 0) return print_layout();
    if (argc != 3) die("usage: notecreate write|read pad-union|compact, or notecreate layout");
    if (strcmp(argv[2], "pad-union") == 0) {
        framing = PAD_UNION;
    } else if (strcmp(argv[2], "compact") == 0) {
        framing = COMPACT;
    } else {
        die("framing must be pad-union or compact");
    }
    if (strcmp(argv[1], "write") == 0) return write_known(framing);
    if (strcmp(argv[1], "read") == 0) return read_frames(framing);
    die("command must be write, read or layout");
    return 2;
}
