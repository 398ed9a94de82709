"""Which names a custom record type and its fields may take, so `billsim header` compiles.

A custom type becomes `typedef struct {…} NAME;` plus `#define BILL_NAME <struct type>`
and `#define BILLSIM_NAME_CLASS <class>` in a header that includes queue/billmsg.h
(<stddef.h>, <stdint.h>). A name is refused when the C (or C++, which billmsg.h also
supports) compiler would read it as something else: a keyword, a name billmsg.h or those
standard headers declare, a name reserved to the implementation, or a macro the
generated header itself defines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from simulator.errors import quoted

# C11 and C23 keywords (C23's bool, true, static_assert, … are macros before it) and
# C++ keywords: billmsg.h is usable from both languages.
_KEYWORDS = """
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while
    alignas alignof bool constexpr false nullptr static_assert thread_local true typeof
    typeof_unqual
    and and_eq asm bitand bitor catch char8_t char16_t char32_t class compl concept
    const_cast consteval constinit co_await co_return co_yield decltype delete dynamic_cast
    explicit export friend mutable namespace new noexcept not not_eq operator or or_eq
    private protected public reinterpret_cast requires static_cast template this throw try
    typeid typename using virtual wchar_t xor xor_eq
"""
KEYWORDS: frozenset[str] = frozenset(_KEYWORDS.split())

# Every name queue/billmsg.h declares (typedefs and macros); tests/wire/test_cnames.py checks
# this list against the header itself.
_BILLMSG_H_NAMES = """
    AGENTREC BILLCHARGEREAD BILLCHARGEWRITE BILLMSG BILLREC BILL_AGENTREC BILL_AGENT_MAIL
    BILL_AGENT_PUBLIC BILL_AGENT_WARNINGS BILL_CLASS_AGENT BILL_CLASS_DATABASE
    BILL_CLASS_DOCUMENT BILL_CLASS_HTTPREQUEST BILL_CLASS_MAIL BILL_CLASS_REPLICATION
    BILL_CLASS_SESSION BILL_DBREC BILL_DB_CLOSE BILL_DB_CLOSE_END BILL_DB_OPEN BILL_DB_STAMP
    BILL_DOCCHARGE BILL_HTTPREQREC BILL_MAILREC BILL_QUEUE_NAME BILL_REPLREC
    BILL_ROUTINGSTATE_DEAD BILL_ROUTINGSTATE_HOLD BILL_ROUTINGSTATE_PENDING BILL_SESSIONREC
    BILL_SESSION_END BILL_SESSION_STAMP BILL_SESSION_START DBID DBREC DELIVERY_PRIORITY_HIGH
    DELIVERY_PRIORITY_LOW DELIVERY_PRIORITY_NORMAL DELIVERY_REPORT_BASIC
    DELIVERY_REPORT_CONFIRMED DELIVERY_REPORT_CONFIRM_NO_DELIVER DELIVERY_REPORT_NONE
    DELIVERY_REPORT_TRACE DELIVERY_REPORT_TRACE_NO_DELIVER DESIGN_NAME_MAX DOCUMENT
    DWORD HTTPREQREC MAILREC MAXNETADR MAXUSERNAME MQ_MAX_MSGSIZE NOTEID NUMBER OID REPLREC
    SESSIONID SESSIONREC TIMEDATE UNID WORD
"""
BILLMSG_H_NAMES: frozenset[str] = frozenset(_BILLMSG_H_NAMES.split())

# What <stddef.h> and <stdint.h> declare: types, and object-like macros.
_STANDARD = re.compile(
    r"^(?:u?int(?:_least|_fast)?\d+_t|u?int(?:ptr|max)_t|size_t|ptrdiff_t|max_align_t"
    r"|NULL|offsetof"
    r"|U?INT(?:_LEAST|_FAST)?\d+_(?:MIN|MAX)|U?INT(?:PTR|MAX)_(?:MIN|MAX)"
    r"|SIZE_MAX|(?:PTRDIFF|SIG_ATOMIC|WCHAR|WINT)_(?:MIN|MAX))$"
)
# Reserved to the C implementation: `__x` and `_X` anywhere.
_RESERVED = re.compile(r"^_[A-Z_]")
# billsim's own macros (BILLSIM_LAYOUT_ASSERT, the generated BILLSIM_<NAME>_CLASS, guards).
_OWN_PREFIX = "BILLSIM_"


def type_macros(type_name: str) -> tuple[str, str]:
    """The macros the generated header defines for a custom type: struct type, class."""
    return f"BILL_{type_name}", f"BILLSIM_{type_name}_CLASS"


def _problem(name: str) -> str | None:
    if name in KEYWORDS:
        return f"{quoted(name)} is a C or C++ keyword"
    if name in BILLMSG_H_NAMES:
        return f"{quoted(name)} is already declared by billmsg.h"
    if _STANDARD.match(name):
        return f"{quoted(name)} is declared by <stddef.h> or <stdint.h>"
    if _RESERVED.match(name):
        return (
            f"{quoted(name)} is reserved to the C implementation (a leading _ and a capital or _)"
        )
    if name.startswith(_OWN_PREFIX):
        return f"{quoted(name)}: names starting {_OWN_PREFIX} are billsim's own"
    return None


def type_name_problem(type_name: str) -> str | None:
    """Why a custom type's name cannot be its C typedef, or None if it can."""
    problem = _problem(type_name)
    if problem is not None:
        return problem
    macro = type_macros(type_name)[0]
    if macro in BILLMSG_H_NAMES:
        return f"its struct type macro {macro} is already defined by billmsg.h"
    return None


def field_name_problem(field_name: str, type_names: Iterable[str]) -> str | None:
    """Why a field name cannot be a C struct member, or None; `type_names`: every custom type."""
    problem = _problem(field_name)
    if problem is not None:
        return problem
    for type_name in type_names:
        if field_name in type_macros(type_name):
            return f"{quoted(field_name)} is a macro the header defines for custom type {type_name}"
    return None
