"""The values the ledger admits, decided once: texts, amounts, counts, times and documents.

Everything a command carries is stored: in events, then in views whose PostgreSQL `text` and
`jsonb` columns cannot hold NUL, and whose `bigint` columns have a range. So every text is valid
Unicode without control characters (a multi-line text keeps its newlines), every text has a
length bound, every amount a size bound (domain/money.py), every document a size bound.

A command's fields say which value they are with `Annotated` types (`Code`, `Name`, `Fen`, ...);
`checker_for` derives the check from the annotation, so a field without a value type is an error
at once (application/commands.py). The domain's public methods check with the same kinds.
Refusals are LedgerErrors naming the field: INVALID_TEXT, TEXT_TOO_LONG, INVALID_INPUT,
INVALID_MONEY, AMOUNT_TOO_LARGE.
"""

import math
import types
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, StrictStr, ValidationInfo

from domain.errors import (
    BeforeSubjectExisted,
    FutureTime,
    InvalidInput,
    InvalidText,
    LedgerError,
    TextTooLong,
)
from domain.money import require_fen

_NEWLINES = frozenset("\n\r")
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Text:
    """A kind of text: its length bound and the characters it admits. Every kind refuses lone
    surrogates (JSON can carry them; UTF-8 cannot) and control characters (NUL above all)."""

    max_length: int
    code: bool = False  # an identifier: non-empty, printable, no spaces at either end
    multiline: bool = False  # newlines allowed (reasons, notes)
    min_length: int = 0

    def check(self, value: object, field: str) -> str:
        if not isinstance(value, str):
            raise InvalidInput(field, f"{field} must be text, not {type(value).__name__}")
        if self.code and not value.strip():
            raise InvalidInput(
                field, f"{field} must be a non-empty code of at most {self.max_length} characters"
            )
        if len(value) < self.min_length:
            raise InvalidInput(field, f"{field} must not be empty")
        if len(value) > self.max_length:
            raise TextTooLong(
                field, f"{field} has {len(value)} characters; at most {self.max_length} are kept"
            )
        refused = self.refused(value)
        if refused is not None:
            raise InvalidText(field, f"{field} contains {refused}")
        if self.code and value != value.strip():
            raise InvalidInput(field, f"{field} must not start or end with spaces")
        return value

    def refused(self, value: str) -> str | None:
        """What in the text is refused (a description), or None."""
        if value.isprintable():
            return None  # the common case: no control, format or separator characters
        for position, char in enumerate(value):
            why = self._refused_char(char)
            if why is not None:
                return why.format(f"U+{ord(char):04X}") + f" at position {position}"
        return None

    def _refused_char(self, char: str) -> str | None:
        category = unicodedata.category(char)
        if category == "Cs":
            return "a lone surrogate {} (not valid Unicode)"
        if category == "Cc" and not (self.multiline and char in _NEWLINES):
            return "the control character {}"
        if self.code and char != " " and not char.isprintable():
            return "the unprintable character {}"
        return None

    def fit(self, value: str) -> str:
        """A text this kind admits, made from derived text (a policy's description of what it
        did, quoting stored facts): refused characters replaced by U+FFFD, cut to length."""
        if value.isprintable() and len(value) <= self.max_length:
            return value  # nothing to refuse (as in `refused`); the policy derives one per line
        kept = "".join(_REPLACEMENT if self._refused_char(c) else c for c in value)
        if len(kept) > self.max_length:
            kept = kept[: self.max_length - 1] + "…"
        return kept

    def validator(self, name: str) -> Any:
        """The same kind as a pydantic type, for the string fields of documents. A stored
        document is read back as it was accepted (`is_stored`): stored events always load."""

        def check(value: str, info: ValidationInfo) -> str:
            if is_stored(info):
                return value
            try:
                return self.check(value, name)
            except LedgerError as exc:
                raise ValueError(exc.message) from None

        return Annotated[StrictStr, AfterValidator(check)]


def is_stored(info: ValidationInfo) -> bool:
    """Whether a document is being read back from an event rather than taken as input."""
    return bool(info.context and info.context.get("stored"))


CODE = Text(64, code=True)  # agents, packages, orders, cards (ICCID), plans, rules, levels, ids
NAME = Text(200, min_length=1)  # people's and products' names
REASON = Text(2000, multiline=True)  # reasons and notes
ACTOR = Text(200, min_length=1)  # who: the request's actor
KEY = Text(200, code=True)  # idempotency keys: a client's uuid, or a composite of its own ids
DOCUMENT_TEXT = Text(2000)  # any string inside a rules or levels document
SEALED = Text(1000, code=True)  # personal data as the API sealed it (v1:<key id>:<base64>)
MASKED = Text(64, code=True)  # its masked form (6222********1234)
RATE_TEXT = Text(32, code=True)  # a rate as written ('0.006', '0.6%'): its parser checks more


@dataclass(frozen=True)
class Amount:
    """Integer fen, zero or more, at most MAX_AMOUNT_FEN (positivity is the domain's to say)."""

    def check(self, value: object, field: str) -> int:
        return require_fen(value, field)


@dataclass(frozen=True)
class Whole:
    """A whole number in [low, high] (months, periods, versions)."""

    low: int
    high: int

    def check(self, value: object, field: str) -> int:
        if type(value) is not int or not self.low <= value <= self.high:
            raise InvalidInput(
                field, f"{field} must be a whole number from {self.low} to {self.high}"
            )
        return value


@dataclass(frozen=True)
class Document:
    """A JSON document (a plan's rules, the level ladder) before its own model parses it:
    bounded in size and depth, its strings valid texts, its numbers finite and JSON-safe."""

    max_nodes: int = 5_000
    max_depth: int = 8

    def check(self, value: object, field: str) -> object:
        budget = [self.max_nodes]
        self._walk(value, field, field, 0, budget)
        return value

    def _walk(self, value: object, field: str, path: str, depth: int, budget: list[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise InvalidInput(field, f"{field} is too large: at most {self.max_nodes} values")
        if depth > self.max_depth:
            raise InvalidInput(field, f"{field} nests deeper than {self.max_depth} levels")
        if isinstance(value, str):
            _text_in(DOCUMENT_TEXT, value, field, path)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int):
            if abs(value) > 2**53:
                raise InvalidInput(field, f"{path}: {value} is beyond the numbers JSON keeps")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInput(field, f"{path}: {value} is not a number")
        elif isinstance(value, dict):
            for key, item in value.items():
                _text_in(CODE, key, field, f"{path} key")
                self._walk(item, field, f"{path}.{key}", depth + 1, budget)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                self._walk(item, field, f"{path}[{index}]", depth + 1, budget)
        else:
            raise InvalidInput(field, f"{path}: a {type(value).__name__} is not JSON")


def _text_in(kind: Text, value: object, field: str, path: str) -> None:
    """A text inside a document: the refusal names the document's field, and says where."""
    try:
        kind.check(value, path)
    except LedgerError as exc:
        raise type(exc)(field, exc.message) from None


DOCUMENT = Document()
AMOUNT = Amount()

# The value types of command fields.
Code = Annotated[str, CODE]
Name = Annotated[str, NAME]
Reason = Annotated[str, REASON]
Key = Annotated[str, KEY]
Fen = Annotated[int, AMOUNT]
Months = Annotated[int, Whole(1, 120)]
Periods = Annotated[int, Whole(0, 1200)]
Version = Annotated[int, Whole(1, 1_000_000)]
Count = Annotated[int, Whole(1, 1000)]  # counts in limits (withdrawals a day)
Rate = Annotated[str, RATE_TEXT]
Sealed = Annotated[str, SEALED]
Masked = Annotated[str, MASKED]
Json = Annotated[object, DOCUMENT]
MEGABYTES = Whole(0, 1_000_000_000)  # data quotas in MB (1 MB = 2**20 bytes): up to a petabyte
BYTES = Whole(0, 2**53)  # data used, in bytes, as carriers report it
Megabytes = Annotated[int, MEGABYTES]
Bytes = Annotated[int, BYTES]

# The same kinds for the string fields of documents (pydantic models).
CodeText = CODE.validator("code")
NameText = NAME.validator("name")

Check = Callable[[object, str], object]


def checker_for(hint: Any) -> Check:
    """The check a field's type annotation asks for. Plain `str`, `int` and `object` have none:
    an unbounded field is refused here, when its command is first built, not stored."""
    origin = get_origin(hint)
    if origin is Annotated:
        kinds = [m for m in hint.__metadata__ if hasattr(m, "check")]
        if kinds:
            return kinds[0].check  # type: ignore[no-any-return]
    elif origin in (Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        if len(inner) == 1 and len(inner) < len(get_args(hint)):
            present = checker_for(inner[0])
            return lambda value, field: None if value is None else present(value, field)
    elif origin is tuple:
        return _tuple_checker(get_args(hint))
    elif hint is bool:
        return _check_flag
    elif hint is datetime:
        return _check_instant
    elif getattr(hint, "CHECKED_WHEN_MADE", False):  # a domain value that checks itself (Audit)
        return lambda value, field: _check_made(hint, value, field)
    raise TypeError(
        f"a command field of type {hint!r} has no value type: annotate it (domain/values.py)"
    )


def _tuple_checker(args: tuple[Any, ...]) -> Check:
    if len(args) == 2 and args[1] is Ellipsis:
        each, limit = checker_for(args[0]), 500

        def check_all(value: object, field: str) -> object:
            if not isinstance(value, tuple | list) or len(value) > limit:
                raise InvalidInput(field, f"{field} must be a list of at most {limit} values")
            for item in value:
                each(item, field)
            return value

        return check_all
    checks = [checker_for(a) for a in args]

    def check_fixed(value: object, field: str) -> object:
        if not isinstance(value, tuple | list) or len(value) != len(checks):
            raise InvalidInput(field, f"{field} must have {len(checks)} values")
        for check, item in zip(checks, value, strict=True):
            check(item, field)
        return value

    return check_fixed


def _check_made(kind: type, value: object, field: str) -> object:
    if not isinstance(value, kind):
        raise InvalidInput(field, f"{field} must be a {kind.__name__}")
    return value


def _check_flag(value: object, field: str) -> bool:
    if type(value) is not bool:
        raise InvalidInput(field, f"{field} must be true or false")
    return value


def _check_instant(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(field, f"{field} must be a time with a UTC offset")
    return value


# -- times ----------------------------------------------------------------------------------------
def refuse_future(at: datetime, latest: datetime, field: str) -> None:
    """A fact takes effect at most at `latest` (the clock the caller was given, plus its
    tolerance): a future effective time would skip holds and date reports ahead."""
    if at > latest:
        raise FutureTime(
            field,
            f"{field} {at.isoformat()} is in the future: the latest time accepted now is "
            f"{latest.isoformat()}",
        )


def refuse_before(at: datetime, since: datetime, field: str, subject: str) -> None:
    """A fact about a subject (an agent, a card, an order) is not dated before the subject
    existed: `since` is when it came to be as the fact needs it."""
    if at < since:
        raise BeforeSubjectExisted(
            field, f"{field} {at.isoformat()} is before {subject} ({since.isoformat()})"
        )
