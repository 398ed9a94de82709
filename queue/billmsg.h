/*
 * billmsg.h — the BILLMSG frames billsim writes, for C consumers.
 *
 * The structs and constants of the Notes C API's billing.h (field order and
 * types as that header declares them), with the NOTES base types they need,
 * so a consumer can read billsim's frames without the Notes C API toolkit.
 * Programs built against the toolkit can use its own billing.h instead: the
 * layout is the same.
 *
 * Layouts: by default the compiler's natural alignment, which is billsim's
 * `linux-x86_64` layout (also Win64): sizeof(BILLMSG) 1000, rec at 280.
 * Define BILLSIM_WIN32_LAYOUT before including this header to get the
 * `win32` layout, #pragma pack(1): sizeof(BILLMSG) 983, rec at 273.
 * Static assertions below check every size and offset against billsim's
 * contract (docs/wire-format.md); a compiler that lays the structs out differently
 * (e.g. 32-bit x86 Linux, where double aligns to 4) fails to compile them.
 * Define BILLSIM_NO_LAYOUT_ASSERTS to skip the checks.
 *
 * Framing (billsim's rules; public sources leave them open):
 *  - A frame is the header (Len .. TimeStamp), then the record struct at
 *    offsetof(BILLMSG, rec), then the record's variable data, with nothing
 *    between. Len is the frame's total length in bytes, variable data
 *    included. Frames are at most MQ_MAX_MSGSIZE bytes.
 *  - Framing "pad-union" (the default): a frame is at least sizeof(BILLMSG)
 *    bytes — zeros after the record and its variable data up to that size —
 *    so it can be read into a BILLMSG. Variable data still starts right after
 *    the record struct, so a long MAILREC frame is longer than a BILLMSG:
 *    read frames into a buffer of MQ_MAX_MSGSIZE bytes.
 *    Framing "compact": no padding; Len may be smaller than sizeof(BILLMSG).
 *  - All padding (alignment gaps, bytes after a string's NUL, union and frame
 *    padding) is zero. Strings in char arrays are NUL-terminated UTF-8.
 *  - Variable data:
 *      MAILREC     the recipients, one comma-separated string, not
 *                  NUL-terminated, RecipientSize bytes (RecipientCount names).
 *      AGENTREC    user name, task name, database name, in that order, not
 *                  NUL-terminated, ULen, TLen and DLen bytes.
 *      HTTPREQREC  NUL-terminated strings in the order of the offset fields;
 *                  each Http...Offset counts from the first byte of the
 *                  HTTPREQREC; 0 means the string is absent.
 *
 * TIMEDATE: Innards[0] = hundredths of a second since midnight GMT;
 * Innards[1] bits 0-23 = Julian day, 24-27 = zone hours, 28-29 = extra
 * quarter hours, 30 = zone east of GMT, 31 = DST. billsim writes GMT.
 * Replica IDs are TIMEDATEs, shown as "%08X:%08X" of Innards[1], Innards[0].
 *
 * Byte order: little-endian in both layouts; this header does no swapping.
 */

#ifndef BILLSIM_BILLMSG_H
#define BILLSIM_BILLMSG_H

#include <stddef.h>
#include <stdint.h>

/* ---- NOTES base types -------------------------------------------------- */

typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef double NUMBER;  /* IEEE 754 binary64 */
typedef DWORD NOTEID;

#define MAXUSERNAME 256     /* name fields are char[MAXUSERNAME + 1] */
#define MAXNETADR 64
#define DESIGN_NAME_MAX 130

/* ---- Queue -------------------------------------------------------------- */

#define BILL_QUEUE_NAME "MQ$BILLING"
/* Largest message: mq.h's MAXONESEGSIZE - 0x40, with MAXONESEGSIZE =
   MAXWORD - 1 - 128 (osmem.h). */
#define MQ_MAX_MSGSIZE 65342

/* ---- Billing classes (BILLMSG.Class), a 32-bit mask ---------------------- */

#define BILL_CLASS_SESSION     0x00000001
#define BILL_CLASS_REPLICATION 0x00000002
#define BILL_CLASS_DOCUMENT    0x00000004
#define BILL_CLASS_MAIL        0x00000008
#define BILL_CLASS_DATABASE    0x00000010
#define BILL_CLASS_AGENT       0x00000020
#define BILL_CLASS_HTTPREQUEST 0x00000040

/* ---- Structure types (BILLMSG.StructType) ------------------------------- */

#define BILL_SESSIONREC 1
#define BILL_REPLREC    1001
#define BILL_DOCCHARGE  2001  /* DOCUMENT */
#define BILL_MAILREC    3001
#define BILL_DBREC      4001
#define BILL_AGENTREC   5001
#define BILL_HTTPREQREC 6001
/* Custom (BILLMNGR-style) record types declared by a scenario. */
#define BILLSIM_CUSTOM_STRUCT_TYPE_MIN 32001
#define BILLSIM_CUSTOM_STRUCT_TYPE_MAX 65535

/* ---- Session and database actions (SESSIONREC/DBREC.Action) ------------- */

#define BILL_SESSION_START 1
#define BILL_DB_OPEN       2
#define BILL_DB_CLOSE      3    /* closed by the user */
#define BILL_SESSION_STAMP 4    /* periodic session record */
#define BILL_DB_STAMP      5    /* periodic database record */
#define BILL_DB_CLOSE_END  6    /* physical close when the session ends */
#define BILL_SESSION_END   255

/* ---- Document charges (DOCUMENT.Type) ----------------------------------- */

#define BILLCHARGEREAD  1
#define BILLCHARGEWRITE 2

/* ---- Mail routing states (MAILREC.RoutingState) ------------------------- */

#define BILL_ROUTINGSTATE_PENDING 0
#define BILL_ROUTINGSTATE_DEAD    1
#define BILL_ROUTINGSTATE_HOLD    2

/* ---- Agent flags (AGENTREC.Flags) --------------------------------------- */

#define BILL_AGENT_WARNINGS 0x00000001  /* non-fatal errors encountered */
#define BILL_AGENT_MAIL     0x00000002  /* triggered by mail */
#define BILL_AGENT_PUBLIC   0x00000004  /* public agent */

/* ---- Mail priority and delivery report (MAILREC.Priority, .Report) ------ */

/* The C API's values (mailserv.h); defined here unless mailserv.h was included. */
#ifndef DELIVERY_PRIORITY_LOW
#define DELIVERY_PRIORITY_LOW    0
#define DELIVERY_PRIORITY_NORMAL 1
#define DELIVERY_PRIORITY_HIGH   2
#endif
#ifndef DELIVERY_REPORT_NONE
#define DELIVERY_REPORT_NONE               0
#define DELIVERY_REPORT_BASIC              1  /* on failure */
#define DELIVERY_REPORT_CONFIRMED          2
#define DELIVERY_REPORT_TRACE              3
#define DELIVERY_REPORT_TRACE_NO_DELIVER   4
#define DELIVERY_REPORT_CONFIRM_NO_DELIVER 5
#endif
/* The names earlier billmsg.h versions gave the same values. */
#define BILLSIM_MAIL_PRIORITY_LOW    DELIVERY_PRIORITY_LOW
#define BILLSIM_MAIL_PRIORITY_NORMAL DELIVERY_PRIORITY_NORMAL
#define BILLSIM_MAIL_PRIORITY_HIGH   DELIVERY_PRIORITY_HIGH
#define BILLSIM_MAIL_REPORT_NONE    DELIVERY_REPORT_NONE
#define BILLSIM_MAIL_REPORT_BASIC   DELIVERY_REPORT_BASIC
#define BILLSIM_MAIL_REPORT_CONFIRM DELIVERY_REPORT_CONFIRMED
#define BILLSIM_MAIL_REPORT_TRACE   DELIVERY_REPORT_TRACE
#define BILLSIM_MAIL_REPORT_TRACE_NO_DELIVER   DELIVERY_REPORT_TRACE_NO_DELIVER
#define BILLSIM_MAIL_REPORT_CONFIRM_NO_DELIVER DELIVERY_REPORT_CONFIRM_NO_DELIVER

/* ---- billsim's own encodings (no public source fixes these) ------------- */

/* REPLREC.Priority */
#define BILLSIM_REPL_PRIORITY_LOW    0
#define BILLSIM_REPL_PRIORITY_MEDIUM 1
#define BILLSIM_REPL_PRIORITY_HIGH   2
/* Elapsed times (DBREC.DBOpenTime, AGENTREC.ElapsedRunTime) are in
   hundredths of a second. */

/* ---- Structs ------------------------------------------------------------ */

#ifdef BILLSIM_WIN32_LAYOUT
#pragma pack(push, 1)
#endif

typedef struct {
    DWORD Innards[2];
} TIMEDATE;

typedef TIMEDATE DBID;  /* database IDs and replica IDs share TIMEDATE's bytes */

typedef struct {
    WORD Index;
    WORD SeqNo;
} SESSIONID;

typedef struct {
    TIMEDATE File;
    TIMEDATE Note;
} UNID;

typedef struct {
    TIMEDATE File;
    TIMEDATE Note;
    DWORD Sequence;
    TIMEDATE SequenceTime;
} OID;

/* Session billing */
typedef struct {
    SESSIONID SessionID;
    WORD Action;                      /* BILL_SESSION_START, _STAMP, _END */
    char Username[MAXUSERNAME + 1];
    DWORD BytesIn;                    /* received so far in this session */
    DWORD BytesOut;                   /* sent so far in this session */
    char NetAdr[MAXNETADR];           /* client's network address */
} SESSIONREC;

/* Database billing */
typedef struct {
    SESSIONID SessionID;
    WORD Action;                      /* BILL_DB_OPEN, _STAMP, _CLOSE, _CLOSE_END */
    char Username[MAXUSERNAME + 1];
    DWORD DBOpenTime;                 /* hundredths of a second */
    TIMEDATE ReplicaID;
} DBREC;

/* Replication billing */
typedef struct {
    SESSIONID SessionID;
    DWORD BytesIn;
    DWORD BytesOut;
    TIMEDATE ReplicaID;
    char Source[MAXUSERNAME + 1];
    char Destination[MAXUSERNAME + 1];
    WORD Priority;                    /* BILLSIM_REPL_PRIORITY_* */
} REPLREC;

/* Document charge billing */
typedef struct {
    WORD Type;                        /* BILLCHARGEREAD or BILLCHARGEWRITE */
    TIMEDATE ReplicaID;
    char Username[MAXUSERNAME + 1];
    OID OriginatorID;                 /* the document */
    NUMBER Charge;                    /* value of its $Charge field */
} DOCUMENT;

/* Mail billing; RecipientSize bytes of recipients follow the struct. */
typedef struct {
    char FormType[DESIGN_NAME_MAX];
    OID OriginatorID;
    UNID OrigMessageID;               /* zero: billsim does not split messages */
    DWORD MessageSize;
    char HopName[MAXUSERNAME + 1];    /* next server in the route */
    WORD Priority;                    /* DELIVERY_PRIORITY_* */
    WORD RoutingState;                /* BILL_ROUTINGSTATE_* */
    WORD Report;                      /* DELIVERY_REPORT_* */
    char Originator[MAXUSERNAME + 1];
    WORD RecipientCount;
    WORD RecipientSize;               /* bytes of recipients after the struct */
    TIMEDATE PostedDate;
} MAILREC;

/* Agent billing; ULen + TLen + DLen bytes of names follow the struct. */
typedef struct {
    WORD ULen;                        /* user name */
    WORD TLen;                        /* task name */
    WORD DLen;                        /* database name */
    DWORD ElapsedRunTime;             /* hundredths of a second */
    DWORD Flags;                      /* BILL_AGENT_* */
} AGENTREC;

/* HTTP request billing; NUL-terminated strings follow the struct, each at its
   offset from the first byte of the HTTPREQREC (0: absent). */
typedef struct {
    DWORD HttpContentLength;
    DWORD HttpReqTimeMs;
    DWORD HttpStatusCode;
    WORD HttpTimeStampOffset;         /* common log format: 21/Nov/2026:09:00:00 +0000 */
    WORD HttpAuthUserOffset;
    WORD HttpPartnerOffset;
    WORD HttpRefererOffset;
    WORD HttpServerAddrOffset;
    WORD HttpUserAgentOffset;
    WORD HttpRequestLineOffset;
    WORD HttpContentTypeOffset;
} HTTPREQREC;

typedef union {
    SESSIONREC sess;
    REPLREC repl;
    DOCUMENT doc;
    MAILREC mail;
    DBREC db;
    AGENTREC agent;
    HTTPREQREC HttpRequest;
} BILLREC;

typedef struct {
    WORD Len;                         /* total length of the frame */
    WORD StructType;                  /* BILL_SESSIONREC, ... */
    DWORD Class;                      /* BILL_CLASS_* */
    char ServerName[MAXUSERNAME + 1];
    TIMEDATE TimeStamp;               /* when the record was written */
    BILLREC rec;
} BILLMSG;

#ifdef BILLSIM_WIN32_LAYOUT
#pragma pack(pop)
#endif

/* ---- Layout checks (docs/wire-format.md) -------------------------------- */

/* BILLSIM_LAYOUT_ASSERT(condition, "what") is a static assertion, defined
   when the compiler has one (C11, C++11) and the checks are not turned off;
   headers that extend BILLREC with custom records can use it too. */

#if !defined(BILLSIM_NO_LAYOUT_ASSERTS)
#if defined(__cplusplus) && __cplusplus >= 201103L
#define BILLSIM_LAYOUT_ASSERT(cond, what) static_assert(cond, "billmsg.h layout: " what)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define BILLSIM_LAYOUT_ASSERT(cond, what) _Static_assert(cond, "billmsg.h layout: " what)
#endif
#endif

#ifdef BILLSIM_LAYOUT_ASSERT
/* Checks that hold in both layouts. */
BILLSIM_LAYOUT_ASSERT(sizeof(WORD) == 2 && sizeof(DWORD) == 4, "WORD, DWORD");
BILLSIM_LAYOUT_ASSERT(sizeof(NUMBER) == 8, "NUMBER");
BILLSIM_LAYOUT_ASSERT(sizeof(TIMEDATE) == 8 && sizeof(SESSIONID) == 4, "TIMEDATE, SESSIONID");
BILLSIM_LAYOUT_ASSERT(sizeof(UNID) == 16 && sizeof(OID) == 28, "UNID, OID");
BILLSIM_LAYOUT_ASSERT(offsetof(OID, Sequence) == 16, "OID");
BILLSIM_LAYOUT_ASSERT(offsetof(OID, SequenceTime) == 20, "OID");

BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, Len) == 0, "header");
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, StructType) == 2, "header");
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, Class) == 4, "header");
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, ServerName) == 8, "header");

BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, SessionID) == 0, "REPLREC");
BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, BytesIn) == 4, "REPLREC");
BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, BytesOut) == 8, "REPLREC");
BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, ReplicaID) == 12, "REPLREC");
BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, Source) == 20, "REPLREC");
BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, Destination) == 277, "REPLREC");
BILLSIM_LAYOUT_ASSERT(offsetof(REPLREC, Priority) == 534, "REPLREC");
BILLSIM_LAYOUT_ASSERT(sizeof(REPLREC) == 536, "REPLREC");

BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, ULen) == 0, "AGENTREC");
BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, TLen) == 2, "AGENTREC");
BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, DLen) == 4, "AGENTREC");

BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpContentLength) == 0, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpReqTimeMs) == 4, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpStatusCode) == 8, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpTimeStampOffset) == 12, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpAuthUserOffset) == 14, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpPartnerOffset) == 16, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpRefererOffset) == 18, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpServerAddrOffset) == 20, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpUserAgentOffset) == 22, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpRequestLineOffset) == 24, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(offsetof(HTTPREQREC, HttpContentTypeOffset) == 26, "HTTPREQREC");
BILLSIM_LAYOUT_ASSERT(sizeof(HTTPREQREC) == 28, "HTTPREQREC");

#ifdef BILLSIM_WIN32_LAYOUT
/* win32: packed, fields follow one another with no padding. */
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, TimeStamp) == 265, "header (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, rec) == 273, "BILLMSG (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(BILLMSG) == 983, "BILLMSG (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(BILLREC) == 710, "BILLREC (win32)");

BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, SessionID) == 0, "SESSIONREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, Action) == 4, "SESSIONREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, Username) == 6, "SESSIONREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, BytesIn) == 263, "SESSIONREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, BytesOut) == 267, "SESSIONREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, NetAdr) == 271, "SESSIONREC (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(SESSIONREC) == 335, "SESSIONREC (win32)");

BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, SessionID) == 0, "DBREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, Action) == 4, "DBREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, Username) == 6, "DBREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, DBOpenTime) == 263, "DBREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, ReplicaID) == 267, "DBREC (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(DBREC) == 275, "DBREC (win32)");

BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, Type) == 0, "DOCUMENT (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, ReplicaID) == 2, "DOCUMENT (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, Username) == 10, "DOCUMENT (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, OriginatorID) == 267, "DOCUMENT (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, Charge) == 295, "DOCUMENT (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(DOCUMENT) == 303, "DOCUMENT (win32)");

BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, FormType) == 0, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, OriginatorID) == 130, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, OrigMessageID) == 158, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, MessageSize) == 174, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, HopName) == 178, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, Priority) == 435, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, RoutingState) == 437, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, Report) == 439, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, Originator) == 441, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, RecipientCount) == 698, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, RecipientSize) == 700, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, PostedDate) == 702, "MAILREC (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(MAILREC) == 710, "MAILREC (win32)");

BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, ElapsedRunTime) == 6, "AGENTREC (win32)");
BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, Flags) == 10, "AGENTREC (win32)");
BILLSIM_LAYOUT_ASSERT(sizeof(AGENTREC) == 14, "AGENTREC (win32)");

#else
/* linux-x86_64 (also Win64): natural alignment. */
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, TimeStamp) == 268, "header (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(BILLMSG, rec) == 280, "BILLMSG (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(BILLMSG) == 1000, "BILLMSG (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(BILLREC) == 720, "BILLREC (linux-x86_64)");

BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, SessionID) == 0, "SESSIONREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, Action) == 4, "SESSIONREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, Username) == 6, "SESSIONREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, BytesIn) == 264, "SESSIONREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, BytesOut) == 268, "SESSIONREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(SESSIONREC, NetAdr) == 272, "SESSIONREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(SESSIONREC) == 336, "SESSIONREC (linux-x86_64)");

BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, SessionID) == 0, "DBREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, Action) == 4, "DBREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, Username) == 6, "DBREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, DBOpenTime) == 264, "DBREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DBREC, ReplicaID) == 268, "DBREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(DBREC) == 276, "DBREC (linux-x86_64)");

BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, Type) == 0, "DOCUMENT (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, ReplicaID) == 4, "DOCUMENT (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, Username) == 12, "DOCUMENT (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, OriginatorID) == 272, "DOCUMENT (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(DOCUMENT, Charge) == 304, "DOCUMENT (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(DOCUMENT) == 312, "DOCUMENT (linux-x86_64)");

BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, FormType) == 0, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, OriginatorID) == 132, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, OrigMessageID) == 160, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, MessageSize) == 176, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, HopName) == 180, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, Priority) == 438, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, RoutingState) == 440, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, Report) == 442, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, Originator) == 444, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, RecipientCount) == 702, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, RecipientSize) == 704, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(MAILREC, PostedDate) == 708, "MAILREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(MAILREC) == 716, "MAILREC (linux-x86_64)");

BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, ElapsedRunTime) == 8, "AGENTREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(offsetof(AGENTREC, Flags) == 12, "AGENTREC (linux-x86_64)");
BILLSIM_LAYOUT_ASSERT(sizeof(AGENTREC) == 16, "AGENTREC (linux-x86_64)");
#endif

#endif /* BILLSIM_LAYOUT_ASSERT */

#endif /* BILLSIM_BILLMSG_H */
