/*
 * crosscheck.c — BILLMSG frames through queue/billmsg.h, for tests/wire/test_c_crosscheck.py.
 *
 *   crosscheck write pad-union|compact   known frames, one of every record type, to stdout
 *   crosscheck read pad-union|compact    frames from stdin, every field as name=value lines
 *   crosscheck layout                    sizeof and offsetof of every struct and field
 *
 * Frames are built field by field through the C structs into a zeroed buffer,
 * the way a billing server fills a BILLMSG; nothing here knows a byte offset
 * that the compiler did not compute.
 *
 * `read` prints, for each frame: frame=<index>, offset=<byte offset in the
 * stream>, then one line per field named by its C access path
 * (rec.sess.SessionID.Index=3, TimeStamp.Innards[0]=...), then the variable
 * data (var.Recipients, var.UserName, ..., var.ContentType; null when
 * absent), then canonical=identical if rebuilding the frame from the values
 * read (through the same code as `write`, with the framing given) gives the
 * same bytes — so every padding byte was zero — or canonical=differs at byte N.
 * Integers are decimal, NUMBER is %.17g, strings are quoted with bytes outside
 * printable ASCII, '"' and '\' written as \xHH.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../queue/billmsg.h"

/* A frame buffer: a BILLMSG, room for the largest frame, BILLMSG's alignment. */
typedef union {
    BILLMSG msg;
    unsigned char bytes[MQ_MAX_MSGSIZE];
} FRAMEBUF;

enum framing { PAD_UNION, COMPACT };

/* A byte string with its length (p == NULL: absent). */
typedef struct {
    const char *p;
    size_t n;
} STR;

#define S(literal) ((STR){(literal), sizeof(literal) - 1})
#define ABSENT ((STR){NULL, 0})
#define REC_OFFSET offsetof(BILLMSG, rec)

static void die(const char *what) {
    fprintf(stderr, "crosscheck: %s\n", what);
    exit(2);
}

static TIMEDATE td(DWORD innards0, DWORD innards1) {
    TIMEDATE t;
    t.Innards[0] = innards0;
    t.Innards[1] = innards1;
    return t;
}

static SESSIONID sid(WORD index, WORD seqno) {
    SESSIONID s;
    s.Index = index;
    s.SeqNo = seqno;
    return s;
}

/* ---- Building a frame --------------------------------------------------- */

/* A NUL-terminated string into a char array of the zeroed buffer. */
static void put_str(char *dst, size_t cap, STR s) {
    if (s.n >= cap) die("string too long for its char array");
    memcpy(dst, s.p, s.n);
}

static void begin(FRAMEBUF *f, WORD type, DWORD cls, STR server, TIMEDATE stamp) {
    memset(f, 0, sizeof *f);
    f->msg.StructType = type;
    f->msg.Class = cls;
    put_str(f->msg.ServerName, sizeof f->msg.ServerName, server);
    f->msg.TimeStamp = stamp;
}

static unsigned char *var_data(FRAMEBUF *f, size_t rec_size) {
    return f->bytes + REC_OFFSET + rec_size;
}

/* Sets Len: the header, the record, its variable data, padded for pad-union. */
static size_t finish(FRAMEBUF *f, size_t rec_size, size_t var_len, enum framing framing) {
    size_t n = REC_OFFSET + rec_size + var_len;
    if (n > MQ_MAX_MSGSIZE) die("frame exceeds MQ_MAX_MSGSIZE");
    if (framing == PAD_UNION && n < sizeof(BILLMSG)) n = sizeof(BILLMSG);
    f->msg.Len = (WORD)n;
    return n;
}

static size_t put_session(FRAMEBUF *f, enum framing framing, SESSIONID id, WORD action,
                          STR user, DWORD bytes_in, DWORD bytes_out, STR netadr) {
    SESSIONREC *r = &f->msg.rec.sess;
    r->SessionID = id;
    r->Action = action;
    put_str(r->Username, sizeof r->Username, user);
    r->BytesIn = bytes_in;
    r->BytesOut = bytes_out;
    put_str(r->NetAdr, sizeof r->NetAdr, netadr);
    return finish(f, sizeof *r, 0, framing);
}

static size_t put_db(FRAMEBUF *f, enum framing framing, SESSIONID id, WORD action, STR user,
                     DWORD open_time, TIMEDATE replica) {
    DBREC *r = &f->msg.rec.db;
    r->SessionID = id;
    r->Action = action;
    put_str(r->Username, sizeof r->Username, user);
    r->DBOpenTime = open_time;
    r->ReplicaID = replica;
    return finish(f, sizeof *r, 0, framing);
}

static size_t put_repl(FRAMEBUF *f, enum framing framing, SESSIONID id, DWORD bytes_in,
                       DWORD bytes_out, TIMEDATE replica, STR source, STR destination,
                       WORD priority) {
    REPLREC *r = &f->msg.rec.repl;
    r->SessionID = id;
    r->BytesIn = bytes_in;
    r->BytesOut = bytes_out;
    r->ReplicaID = replica;
    put_str(r->Source, sizeof r->Source, source);
    put_str(r->Destination, sizeof r->Destination, destination);
    r->Priority = priority;
    return finish(f, sizeof *r, 0, framing);
}

static size_t put_doc(FRAMEBUF *f, enum framing framing, WORD type, TIMEDATE replica, STR user,
                      OID originator, NUMBER charge) {
    DOCUMENT *r = &f->msg.rec.doc;
    r->Type = type;
    r->ReplicaID = replica;
    put_str(r->Username, sizeof r->Username, user);
    r->OriginatorID = originator;
    r->Charge = charge;
    return finish(f, sizeof *r, 0, framing);
}

typedef struct {
    STR FormType;
    OID OriginatorID;
    UNID OrigMessageID;
    DWORD MessageSize;
    STR HopName;
    WORD Priority;
    WORD RoutingState;
    WORD Report;
    STR Originator;
    WORD RecipientCount;
    TIMEDATE PostedDate;
    STR Recipients; /* comma-separated; its length is RecipientSize */
} MAILVALUES;

static size_t put_mail(FRAMEBUF *f, enum framing framing, const MAILVALUES *v) {
    MAILREC *r = &f->msg.rec.mail;
    put_str(r->FormType, sizeof r->FormType, v->FormType);
    r->OriginatorID = v->OriginatorID;
    r->OrigMessageID = v->OrigMessageID;
    r->MessageSize = v->MessageSize;
    put_str(r->HopName, sizeof r->HopName, v->HopName);
    r->Priority = v->Priority;
    r->RoutingState = v->RoutingState;
    r->Report = v->Report;
    put_str(r->Originator, sizeof r->Originator, v->Originator);
    r->RecipientCount = v->RecipientCount;
    if (v->Recipients.n > 0xFFFF) die("recipients do not fit RecipientSize");
    r->RecipientSize = (WORD)v->Recipients.n;
    r->PostedDate = v->PostedDate;
    if (REC_OFFSET + sizeof *r + v->Recipients.n > MQ_MAX_MSGSIZE) die("recipients too long");
    if (v->Recipients.n) memcpy(var_data(f, sizeof *r), v->Recipients.p, v->Recipients.n);
    return finish(f, sizeof *r, v->Recipients.n, framing);
}

static size_t put_agent(FRAMEBUF *f, enum framing framing, DWORD elapsed, DWORD flags,
                        STR user, STR task, STR database) {
    AGENTREC *r = &f->msg.rec.agent;
    unsigned char *p = var_data(f, sizeof *r);
    size_t total = user.n + task.n + database.n;
    if (user.n > 0xFFFF || task.n > 0xFFFF || database.n > 0xFFFF) die("agent name too long");
    if (REC_OFFSET + sizeof *r + total > MQ_MAX_MSGSIZE) die("agent names too long");
    r->ULen = (WORD)user.n;
    r->TLen = (WORD)task.n;
    r->DLen = (WORD)database.n;
    r->ElapsedRunTime = elapsed;
    r->Flags = flags;
    if (user.n) memcpy(p, user.p, user.n);
    if (task.n) memcpy(p + user.n, task.p, task.n);
    if (database.n) memcpy(p + user.n + task.n, database.p, database.n);
    return finish(f, sizeof *r, total, framing);
}

#define HTTP_STRINGS 8
static const char *const http_names[HTTP_STRINGS] = {
    "TimeStamp", "AuthUser", "Partner", "Referer",
    "ServerAddr", "UserAgent", "RequestLine", "ContentType",
};

/* The i-th offset field, by value: no pointers to (possibly packed) members. */
static WORD get_http_offset(const HTTPREQREC *r, int i) {
    switch (i) {
    case 0: return r->HttpTimeStampOffset;
    case 1: return r->HttpAuthUserOffset;
    case 2: return r->HttpPartnerOffset;
    case 3: return r->HttpRefererOffset;
    case 4: return r->HttpServerAddrOffset;
    case 5: return r->HttpUserAgentOffset;
    case 6: return r->HttpRequestLineOffset;
    default: return r->HttpContentTypeOffset;
    }
}

static void set_http_offset(HTTPREQREC *r, int i, WORD offset) {
    switch (i) {
    case 0: r->HttpTimeStampOffset = offset; break;
    case 1: r->HttpAuthUserOffset = offset; break;
    case 2: r->HttpPartnerOffset = offset; break;
    case 3: r->HttpRefererOffset = offset; break;
    case 4: r->HttpServerAddrOffset = offset; break;
    case 5: r->HttpUserAgentOffset = offset; break;
    case 6: r->HttpRequestLineOffset = offset; break;
    default: r->HttpContentTypeOffset = offset; break;
    }
}

/* strings[i] in the order of the offset fields; p == NULL: absent (offset 0). */
static size_t put_http(FRAMEBUF *f, enum framing framing, DWORD content_length, DWORD time_ms,
                       DWORD status, const STR strings[HTTP_STRINGS]) {
    HTTPREQREC *r = &f->msg.rec.HttpRequest;
    size_t position = sizeof *r; /* offsets count from the first byte of the HTTPREQREC */
    int i;
    r->HttpContentLength = content_length;
    r->HttpReqTimeMs = time_ms;
    r->HttpStatusCode = status;
    for (i = 0; i < HTTP_STRINGS; i++) {
        if (strings[i].p == NULL) continue;
        if (position > 0xFFFF) die("HTTP string offset does not fit a WORD");
        if (REC_OFFSET + position + strings[i].n + 1 > MQ_MAX_MSGSIZE) die("HTTP strings too long");
        set_http_offset(r, i, (WORD)position);
        memcpy(f->bytes + REC_OFFSET + position, strings[i].p, strings[i].n);
        position += strings[i].n + 1; /* and its NUL, already zero */
    }
    return finish(f, sizeof *r, position - sizeof *r, framing);
}

/* ---- write: the known frames (mirrored by KNOWN_FRAMES in the test) ------ */

static void emit(FRAMEBUF *f, size_t len) {
    if (fwrite(f->bytes, 1, len, stdout) != len) die("write error");
}

static int write_known(enum framing framing) {
    static FRAMEBUF f;
    static char recipients[2048];
    const STR server = S("CN=Billing01/O=Acme");
    const STR alice = S("CN=Alice Example/O=Acme");
    /* 2026-11-21 09:15:00.00 GMT, then one hundredth later per frame */
    const DWORD day = 2461366;
    const DWORD nine_fifteen = 3330000;
    const TIMEDATE replica = td(0x006CDCC0, 0x852563FC); /* 852563FC:006CDCC0 */
    OID oid;
    MAILVALUES mail;
    STR http[HTTP_STRINGS];
    size_t n = 0;
    int i;

    begin(&f, BILL_SESSIONREC, BILL_CLASS_SESSION, server, td(nine_fifteen, day));
    emit(&f, put_session(&f, framing, sid(3, 1), BILL_SESSION_START, alice, 1234, 56789,
                         S("192.0.2.10")));

    begin(&f, BILL_DBREC, BILL_CLASS_DATABASE, server, td(nine_fifteen + 1, day));
    emit(&f, put_db(&f, framing, sid(3, 1), BILL_DB_CLOSE, alice, 12345, replica));

    begin(&f, BILL_REPLREC, BILL_CLASS_REPLICATION, server, td(nine_fifteen + 2, day));
    emit(&f, put_repl(&f, framing, sid(7, 2), 1000000, 2000, td(0x0052C1F0, 0x85258A3B),
                      S("CN=Hub01/O=Acme"), S("CN=Spoke02/O=Acme"), BILLSIM_REPL_PRIORITY_HIGH));

    oid.File = td(0x11111111, 0x85258A3B);
    oid.Note = td(0x22222222, 0x85258A3C);
    oid.Sequence = 5;
    oid.SequenceTime = td(nine_fifteen - 100, day);
    begin(&f, BILL_DOCCHARGE, BILL_CLASS_DOCUMENT, server, td(nine_fifteen + 3, day));
    /* a UTF-8 name: Zoë Ångström */
    emit(&f, put_doc(&f, framing, BILLCHARGEWRITE, replica,
                     S("CN=Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m/O=Acme"), oid, 12.5));

    memset(&mail, 0, sizeof mail);
    mail.FormType = S("Memo");
    mail.OriginatorID = oid;
    mail.MessageSize = 4096;
    mail.HopName = S("CN=Hub01/O=Acme");
    mail.Priority = BILLSIM_MAIL_PRIORITY_NORMAL;
    mail.RoutingState = BILL_ROUTINGSTATE_PENDING;
    mail.Report = BILLSIM_MAIL_REPORT_CONFIRM;
    mail.Originator = alice;
    mail.RecipientCount = 3;
    mail.PostedDate = td(nine_fifteen - 50, day);
    mail.Recipients = S("CN=Bob/O=Acme,CN=Carol/O=Acme,dave@example.com");
    begin(&f, BILL_MAILREC, BILL_CLASS_MAIL, server, td(nine_fifteen + 4, day));
    emit(&f, put_mail(&f, framing, &mail));

    /* a mail whose recipients make the frame longer than a BILLMSG */
    for (i = 0; i < 60; i++) {
        n += (size_t)sprintf(recipients + n, "%suser%02d@example.com", i ? "," : "", i);
    }
    mail.FormType = S("Reply");
    mail.Priority = BILLSIM_MAIL_PRIORITY_HIGH;
    mail.RoutingState = BILL_ROUTINGSTATE_HOLD;
    mail.Report = BILLSIM_MAIL_REPORT_TRACE;
    mail.RecipientCount = 60;
    mail.OrigMessageID.File = td(1, 2);
    mail.OrigMessageID.Note = td(3, 4);
    mail.Recipients.p = recipients;
    mail.Recipients.n = n;
    begin(&f, BILL_MAILREC, BILL_CLASS_MAIL, server, td(nine_fifteen + 5, day));
    emit(&f, put_mail(&f, framing, &mail));

    begin(&f, BILL_AGENTREC, BILL_CLASS_AGENT, server, td(nine_fifteen + 6, day));
    emit(&f, put_agent(&f, framing, 250, BILL_AGENT_WARNINGS | BILL_AGENT_PUBLIC, alice,
                       S("Archive Old Mail"), S("mail/alice.nsf")));

    http[0] = S("21/Nov/2026:09:15:00 +0000");
    http[1] = alice;
    http[2] = ABSENT;
    http[3] = S("https://intranet.example/");
    http[4] = S("192.0.2.10");
    http[5] = S("Mozilla/5.0 (X11; Linux x86_64)");
    http[6] = S("GET /mail/alice.nsf/($Inbox)?OpenView HTTP/1.1");
    http[7] = ABSENT;
    begin(&f, BILL_HTTPREQREC, BILL_CLASS_HTTPREQUEST, server, td(nine_fifteen + 7, day));
    emit(&f, put_http(&f, framing, 512, 37, 200, http));

    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- read: every field of frames from stdin ----------------------------- */

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

/* A char array's string: up to its NUL (or the whole array if it has none). */
static STR array_str(const char *array, size_t cap) {
    const char *end = memchr(array, 0, cap);
    STR s;
    s.p = array;
    s.n = end ? (size_t)(end - array) : cap;
    return s;
}

#define STRFIELD(prefix, rec, field) \
    print_str(prefix #field, array_str((rec)->field, sizeof (rec)->field))

static STR print_str(const char *name, STR s) {
    print_bytes(name, s.p, s.n);
    return s;
}

static void print_u(const char *name, unsigned long value) {
    printf("%s=%lu\n", name, value);
}

static void print_td(const char *name, TIMEDATE t) {
    printf("%s.Innards[0]=%" PRIu32 "\n", name, t.Innards[0]);
    printf("%s.Innards[1]=%" PRIu32 "\n", name, t.Innards[1]);
}

static void print_sid(const char *name, SESSIONID s) {
    printf("%s.Index=%u\n", name, (unsigned)s.Index);
    printf("%s.SeqNo=%u\n", name, (unsigned)s.SeqNo);
}

static void print_oid(const char *name, OID o) {
    char sub[64];
    snprintf(sub, sizeof sub, "%s.File", name);
    print_td(sub, o.File);
    snprintf(sub, sizeof sub, "%s.Note", name);
    print_td(sub, o.Note);
    printf("%s.Sequence=%" PRIu32 "\n", name, o.Sequence);
    snprintf(sub, sizeof sub, "%s.SequenceTime", name);
    print_td(sub, o.SequenceTime);
}

static void print_unid(const char *name, UNID u) {
    char sub[64];
    snprintf(sub, sizeof sub, "%s.File", name);
    print_td(sub, u.File);
    snprintf(sub, sizeof sub, "%s.Note", name);
    print_td(sub, u.Note);
}

/* Checks that `need` bytes fit the frame; prints an error line if not. */
static int fits(size_t len, size_t need, const char *what) {
    if (need <= len) return 1;
    printf("error=Len %zu is too small for %s (%zu bytes)\n", len, what, need);
    return 0;
}

/* Prints one frame's fields and rebuilds it into `out`; returns the rebuilt Len (0: none). */
static size_t read_frame(FRAMEBUF *in, size_t len, FRAMEBUF *out, enum framing framing) {
    const BILLMSG *m = &in->msg;
    STR server;
    print_u("Len", m->Len);
    print_u("StructType", m->StructType);
    print_u("Class", m->Class);
    server = print_str("ServerName", array_str(m->ServerName, sizeof m->ServerName));
    print_td("TimeStamp", m->TimeStamp);
    begin(out, m->StructType, m->Class, server, m->TimeStamp);

    switch (m->StructType) {
    case BILL_SESSIONREC: {
        const SESSIONREC *r = &m->rec.sess;
        STR user, netadr;
        if (!fits(len, REC_OFFSET + sizeof *r, "a SESSIONREC")) return 0;
        print_sid("rec.sess.SessionID", r->SessionID);
        print_u("rec.sess.Action", r->Action);
        user = STRFIELD("rec.sess.", r, Username);
        print_u("rec.sess.BytesIn", r->BytesIn);
        print_u("rec.sess.BytesOut", r->BytesOut);
        netadr = STRFIELD("rec.sess.", r, NetAdr);
        return put_session(out, framing, r->SessionID, r->Action, user, r->BytesIn,
                           r->BytesOut, netadr);
    }
    case BILL_DBREC: {
        const DBREC *r = &m->rec.db;
        STR user;
        if (!fits(len, REC_OFFSET + sizeof *r, "a DBREC")) return 0;
        print_sid("rec.db.SessionID", r->SessionID);
        print_u("rec.db.Action", r->Action);
        user = STRFIELD("rec.db.", r, Username);
        print_u("rec.db.DBOpenTime", r->DBOpenTime);
        print_td("rec.db.ReplicaID", r->ReplicaID);
        return put_db(out, framing, r->SessionID, r->Action, user, r->DBOpenTime, r->ReplicaID);
    }
    case BILL_REPLREC: {
        const REPLREC *r = &m->rec.repl;
        STR source, destination;
        if (!fits(len, REC_OFFSET + sizeof *r, "a REPLREC")) return 0;
        print_sid("rec.repl.SessionID", r->SessionID);
        print_u("rec.repl.BytesIn", r->BytesIn);
        print_u("rec.repl.BytesOut", r->BytesOut);
        print_td("rec.repl.ReplicaID", r->ReplicaID);
        source = STRFIELD("rec.repl.", r, Source);
        destination = STRFIELD("rec.repl.", r, Destination);
        print_u("rec.repl.Priority", r->Priority);
        return put_repl(out, framing, r->SessionID, r->BytesIn, r->BytesOut, r->ReplicaID, source,
                        destination, r->Priority);
    }
    case BILL_DOCCHARGE: {
        const DOCUMENT *r = &m->rec.doc;
        STR user;
        if (!fits(len, REC_OFFSET + sizeof *r, "a DOCUMENT")) return 0;
        print_u("rec.doc.Type", r->Type);
        print_td("rec.doc.ReplicaID", r->ReplicaID);
        user = STRFIELD("rec.doc.", r, Username);
        print_oid("rec.doc.OriginatorID", r->OriginatorID);
        printf("rec.doc.Charge=%.17g\n", r->Charge);
        return put_doc(out, framing, r->Type, r->ReplicaID, user, r->OriginatorID, r->Charge);
    }
    case BILL_MAILREC: {
        const MAILREC *r = &m->rec.mail;
        MAILVALUES v;
        if (!fits(len, REC_OFFSET + sizeof *r, "a MAILREC")) return 0;
        v.FormType = STRFIELD("rec.mail.", r, FormType);
        print_oid("rec.mail.OriginatorID", v.OriginatorID = r->OriginatorID);
        print_unid("rec.mail.OrigMessageID", v.OrigMessageID = r->OrigMessageID);
        print_u("rec.mail.MessageSize", v.MessageSize = r->MessageSize);
        v.HopName = STRFIELD("rec.mail.", r, HopName);
        print_u("rec.mail.Priority", v.Priority = r->Priority);
        print_u("rec.mail.RoutingState", v.RoutingState = r->RoutingState);
        print_u("rec.mail.Report", v.Report = r->Report);
        v.Originator = STRFIELD("rec.mail.", r, Originator);
        print_u("rec.mail.RecipientCount", v.RecipientCount = r->RecipientCount);
        print_u("rec.mail.RecipientSize", r->RecipientSize);
        print_td("rec.mail.PostedDate", v.PostedDate = r->PostedDate);
        if (!fits(len, REC_OFFSET + sizeof *r + r->RecipientSize, "RecipientSize")) return 0;
        v.Recipients.p = (const char *)var_data(in, sizeof *r);
        v.Recipients.n = r->RecipientSize;
        print_str("var.Recipients", v.Recipients);
        return put_mail(out, framing, &v);
    }
    case BILL_AGENTREC: {
        const AGENTREC *r = &m->rec.agent;
        const char *p = (const char *)var_data(in, sizeof *r);
        STR user, task, database;
        if (!fits(len, REC_OFFSET + sizeof *r, "an AGENTREC")) return 0;
        print_u("rec.agent.ULen", r->ULen);
        print_u("rec.agent.TLen", r->TLen);
        print_u("rec.agent.DLen", r->DLen);
        print_u("rec.agent.ElapsedRunTime", r->ElapsedRunTime);
        print_u("rec.agent.Flags", r->Flags);
        if (!fits(len, REC_OFFSET + sizeof *r + r->ULen + r->TLen + r->DLen, "ULen+TLen+DLen")) {
            return 0;
        }
        user.p = p;
        user.n = r->ULen;
        task.p = p + r->ULen;
        task.n = r->TLen;
        database.p = p + r->ULen + r->TLen;
        database.n = r->DLen;
        print_str("var.UserName", user);
        print_str("var.TaskName", task);
        print_str("var.DatabaseName", database);
        return put_agent(out, framing, r->ElapsedRunTime, r->Flags, user, task, database);
    }
    case BILL_HTTPREQREC: {
        const HTTPREQREC *r = &in->msg.rec.HttpRequest;
        STR strings[HTTP_STRINGS];
        char name[64];
        int i;
        if (!fits(len, REC_OFFSET + sizeof *r, "an HTTPREQREC")) return 0;
        print_u("rec.HttpRequest.HttpContentLength", r->HttpContentLength);
        print_u("rec.HttpRequest.HttpReqTimeMs", r->HttpReqTimeMs);
        print_u("rec.HttpRequest.HttpStatusCode", r->HttpStatusCode);
        for (i = 0; i < HTTP_STRINGS; i++) {
            snprintf(name, sizeof name, "rec.HttpRequest.Http%sOffset", http_names[i]);
            print_u(name, get_http_offset(r, i));
        }
        for (i = 0; i < HTTP_STRINGS; i++) {
            WORD offset = get_http_offset(r, i);
            size_t start = REC_OFFSET + offset;
            const char *end;
            snprintf(name, sizeof name, "var.%s", http_names[i]);
            if (offset == 0) {
                strings[i] = ABSENT;
                printf("%s=null\n", name);
                continue;
            }
            if (!fits(len, start + 1, name)) return 0;
            end = memchr(in->bytes + start, 0, len - start);
            if (end == NULL) {
                printf("error=%s has no NUL before the end of the frame\n", name);
                return 0;
            }
            strings[i].p = (const char *)in->bytes + start;
            strings[i].n = (size_t)(end - strings[i].p);
            print_str(name, strings[i]);
        }
        return put_http(out, framing, r->HttpContentLength, r->HttpReqTimeMs, r->HttpStatusCode,
                        strings);
    }
    default:
        printf("rec=unknown struct type\n");
        return 0;
    }
}

static size_t read_exactly(unsigned char *dst, size_t n) {
    return fread(dst, 1, n, stdin);
}

static int read_frames(enum framing framing) {
    static FRAMEBUF in, out;
    unsigned long offset = 0;
    unsigned long index = 0;
    for (;;) {
        size_t got, len, rebuilt, i;
        memset(&in, 0, sizeof in);
        got = read_exactly(in.bytes, 2);
        if (got == 0) break;
        if (got < 2) die("stream ends inside Len");
        len = in.msg.Len;
        if (len < REC_OFFSET) die("Len is smaller than the BILLMSG header");
        if (len > MQ_MAX_MSGSIZE) die("Len exceeds MQ_MAX_MSGSIZE");
        if (read_exactly(in.bytes + 2, len - 2) != len - 2) die("stream ends inside a frame");
        printf("frame=%lu\n", index);
        printf("offset=%lu\n", offset);
        rebuilt = read_frame(&in, len, &out, framing);
        if (rebuilt == 0) return 1;
        for (i = 0; i < len && i < rebuilt && in.bytes[i] == out.bytes[i]; i++) continue;
        if (i == len && i == rebuilt) {
            printf("canonical=identical\n");
        } else {
            printf("canonical=differs at byte %zu\n", i);
        }
        offset += (unsigned long)len;
        index++;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- layout: what the compiler made of billmsg.h ------------------------ */

#define SIZE(T) printf("%s.sizeof=%zu\n", #T, sizeof(T))
#define OFF(T, field) printf("%s.%s=%zu\n", #T, #field, offsetof(T, field))

static int print_layout(void) {
    SIZE(BILLMSG);
    OFF(BILLMSG, Len);
    OFF(BILLMSG, StructType);
    OFF(BILLMSG, Class);
    OFF(BILLMSG, ServerName);
    OFF(BILLMSG, TimeStamp);
    OFF(BILLMSG, rec);
    SIZE(BILLREC);
    SIZE(SESSIONREC);
    OFF(SESSIONREC, SessionID);
    OFF(SESSIONREC, Action);
    OFF(SESSIONREC, Username);
    OFF(SESSIONREC, BytesIn);
    OFF(SESSIONREC, BytesOut);
    OFF(SESSIONREC, NetAdr);
    SIZE(DBREC);
    OFF(DBREC, SessionID);
    OFF(DBREC, Action);
    OFF(DBREC, Username);
    OFF(DBREC, DBOpenTime);
    OFF(DBREC, ReplicaID);
    SIZE(REPLREC);
    OFF(REPLREC, SessionID);
    OFF(REPLREC, BytesIn);
    OFF(REPLREC, BytesOut);
    OFF(REPLREC, ReplicaID);
    OFF(REPLREC, Source);
    OFF(REPLREC, Destination);
    OFF(REPLREC, Priority);
    SIZE(DOCUMENT);
    OFF(DOCUMENT, Type);
    OFF(DOCUMENT, ReplicaID);
    OFF(DOCUMENT, Username);
    OFF(DOCUMENT, OriginatorID);
    OFF(DOCUMENT, Charge);
    SIZE(MAILREC);
    OFF(MAILREC, FormType);
    OFF(MAILREC, OriginatorID);
    OFF(MAILREC, OrigMessageID);
    OFF(MAILREC, MessageSize);
    OFF(MAILREC, HopName);
    OFF(MAILREC, Priority);
    OFF(MAILREC, RoutingState);
    OFF(MAILREC, Report);
    OFF(MAILREC, Originator);
    OFF(MAILREC, RecipientCount);
    OFF(MAILREC, RecipientSize);
    OFF(MAILREC, PostedDate);
    SIZE(AGENTREC);
    OFF(AGENTREC, ULen);
    OFF(AGENTREC, TLen);
    OFF(AGENTREC, DLen);
    OFF(AGENTREC, ElapsedRunTime);
    OFF(AGENTREC, Flags);
    SIZE(HTTPREQREC);
    OFF(HTTPREQREC, HttpContentLength);
    OFF(HTTPREQREC, HttpReqTimeMs);
    OFF(HTTPREQREC, HttpStatusCode);
    OFF(HTTPREQREC, HttpTimeStampOffset);
    OFF(HTTPREQREC, HttpAuthUserOffset);
    OFF(HTTPREQREC, HttpPartnerOffset);
    OFF(HTTPREQREC, HttpRefererOffset);
    OFF(HTTPREQREC, HttpServerAddrOffset);
    OFF(HTTPREQREC, HttpUserAgentOffset);
    OFF(HTTPREQREC, HttpRequestLineOffset);
    OFF(HTTPREQREC, HttpContentTypeOffset);
    return fflush(stdout) == 0 ? 0 : 1;
}

static void usage(void) {
    fprintf(stderr, "usage: crosscheck write|read pad-union|compact\n"
                    "       crosscheck layout\n");
    exit(2);
}

int main(int argc, char **argv) {
    enum framing framing;
    if (argc == 2 && strcmp(argv[1], "layout") == 0) return print_layout();
    if (argc != 3) usage();
    if (strcmp(argv[2], "pad-union") == 0) {
        framing = PAD_UNION;
    } else if (strcmp(argv[2], "compact") == 0) {
        framing = COMPACT;
    } else {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "write") == 0) return write_known(framing);
    if (strcmp(argv[1], "read") == 0) return read_frames(framing);
    usage();
    return 2;
}
