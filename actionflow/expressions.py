"""The expression language of action flows: how a step's configuration refers to the trigger's
data and to what earlier steps produced.

Templates
---------
Any string in a step's configuration is a template and may hold ``{{ expr }}`` placeholders::

    {{ input.workflowId }}
    Request {{ record.request_name }} waits since {{ format_date(now, "yyyy-MM-dd HH:mm") }}
    https://oa.example.com/view?id={{ urlencode(input.requestId) }}

* A string that is exactly one placeholder (whitespace around it allowed) evaluates to the raw
  value and keeps its type: true/false, a whole number, a decimal, a list, an object (dict),
  null (None) or a date-time. ``"{{ steps.query.data.items }}"`` is the list itself.
* Otherwise every placeholder is turned into text and joined with the literal text around it:
  null becomes the empty text, true/false become ``true``/``false``, a date-time becomes ISO
  8601 in the console's time zone (``2024-05-06T09:30:00+08:00``), a list or object becomes
  compact JSON (``{"a":1,"b":["x"]}``, non-ASCII characters kept as they are), decimals are
  written without exponent (``1200.50``).
* ``\\{{`` writes a literal ``{{`` (the backslash is dropped): ``\\{{ not a placeholder }}``
  renders as ``{{ not a placeholder }}``. A backslash right before ``{{`` always escapes it;
  to write a backslash followed by a value, put the backslash in a string:
  ``{{ "\\\\" }}{{ input.x }}``. A ``}}`` outside a placeholder is ordinary text.
* A string without placeholders (and without ``\\{{``) is returned unchanged.

Expressions
-----------
An expression is one value; there are no operators (branch conditions are structured
separately, see actionflow.conditions). It is one of:

* a reference: a root followed by keys and positions::

      input.workflowId                 the data the flow was started with
      record.form_data.amount          the workflow request the flow runs for
      steps.archive.status             the outputs of the earlier step with the key "archive"
      steps.archive.data.items[0]      a position in a list (0 is the first, -1 the last)
      record.form_data["合同 金额"]     a key that is not a plain name (spaces, dashes, digits first)
      trigger.node_name                what triggered the flow (event, node, operator ...)
      run.id                           this run of the flow
      flow.name                        the flow itself
      secrets.token                    one of the flow's encrypted secrets (masked in logs)
      now                              the moment the run (re)started, a date-time

  The roots are exactly ``input``, ``record``, ``steps``, ``trigger``, ``run``, ``flow``,
  ``secrets`` and ``now``; any other first name is refused when the template is compiled (when the flow is
  saved). A root the run does not have gives null. A key after ``.`` is a name
  of letters (Chinese characters included), digits and ``_`` not starting with a digit; any
  other key is written in brackets as a quoted string. Keys are looked up in objects and
  positions in lists, nothing else: a key or position that does not exist, or a step that has
  not run, gives null, never an error, so ``default()`` and the "is empty" condition can test
  for it. A name is always a key, never a property of a program object:
  ``input.__class__`` is simply the key ``__class__`` of the input, usually null.
* a literal: text in single or double quotes (escapes ``\\\\`` ``\\'`` ``\\"`` ``\\n``
  ``\\t``; any other backslash sequence is an error), a whole number (``42``, ``-1``), a
  decimal (``0.5``, ``-12.75``), ``true``, ``false``, ``null``.
* a function call ``name(argument, ...)`` whose arguments are expressions themselves.

Functions
---------
==============================  ===============================================================
``urlencode(x)``                x as text, percent-encoded as UTF-8 with nothing kept safe
                                (``a b/c`` → ``a%20b%2Fc``), for a value inside a URL
``date(x)``                     a date-time in the console's time zone (TIME_ZONE) from ISO 8601
                                text (``2024-05-06T09:30:00+08:00``, ``2024-05-06T01:30:00Z``),
                                ``yyyy-MM-dd HH:mm:ss``, ``yyyy-MM-dd HH:mm``, ``yyyy-MM-dd``
                                (also with ``/`` and one-digit month or day), epoch
                                milliseconds (a whole number, or text of digits only) or a
                                date-time; text without a zone is read in TIME_ZONE
``date_add(dt, amount, unit)``  dt moved by amount (may be negative or a decimal) of ``seconds``,
                                ``minutes``, ``hours``, ``days`` or ``weeks`` (any case; the
                                amount may also be numeric text); days and weeks
                                keep the wall-clock time, the others count elapsed time
``format_date(dt, pattern)``    dt as text in TIME_ZONE after a Java / OA style pattern:
                                ``yyyy`` ``yy`` year, ``MM`` ``M`` month, ``dd`` ``d`` day,
                                ``HH`` ``H`` hour (0-23), ``hh`` ``h`` hour (1-12), ``mm`` ``m``
                                minute, ``ss`` ``s`` second, ``SSS`` millisecond; text in single
                                quotes is literal (``''`` is one quote); every other character
                                is copied as it is (``yyyy年MM月dd日``)
``lower(x)`` ``upper(x)``       x as text in lower / upper case
``trim(x)``                     x as text without leading and trailing white space
``concat(a, ...)``              all arguments as text, joined
``default(a, b)``               b when a is null or the empty text, otherwise a
``join(list, sep)``             the items of list as text, separated by sep (``,`` when left
                                out); null gives the empty text
``length(x)``                   characters of a text, items of a list or keys of an object;
                                0 for null
``json(x)``                     x as compact JSON text (``"a\\"b"`` for a text, ``null``,
                                ``[1,2]``, decimals as JSON numbers, date-times as ISO text),
                                to put a value into a JSON body safely
``string(x)``                   x as text, following the rules of text placeholders above
``number(x)``                   x as a number: a whole number or a decimal from a number or
                                text such as ``" 12.50 "``; null or the empty text give null
==============================  ===============================================================

The date functions take a date-time or anything ``date()`` reads; when the date argument is
null or the empty text they give null (a missing value stays missing). The text functions read
null as the empty text. A function called with the wrong number of arguments, or a name that is
not a function, is refused when the flow is saved; an argument that cannot be used (``date("next
Tuesday")``, an unknown unit, ``number("abc")``) stops the step at run time with an error naming
the function and the problem.

Limits
------
A template holds at most 10,000 characters and 200 placeholders, and function calls nest at
most 20 deep; beyond that the template is refused when the flow is saved. Every refusal names
the problem and the character where it was found.
"""
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date as date_type
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from urllib.parse import quote

from django.utils import timezone
from django.utils.translation import gettext as _

ROOTS = ("input", "record", "steps", "trigger", "run", "flow", "secrets", "now")
LITERAL_WORDS = {"true": True, "false": False, "null": None}
MAX_TEMPLATE_LENGTH = 10_000
MAX_PLACEHOLDERS = 200
MAX_DEPTH = 20
# Python refuses to read integers of more than 4,300 digits, and no real value needs 100.
MAX_NUMBER_DIGITS = 100
DATE_UNITS = ("seconds", "minutes", "hours", "days", "weeks")

ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
DIGITS = "0123456789"
_NUMBER_LITERAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# No exponents: "1e999999999" would be a number whose text form has a billion digits.
_NUMERIC_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_EPOCH_MILLIS = re.compile(r"-?[0-9]{1,18}")
# What OA systems write besides ISO 8601: 2024/5/6, 2024-5-6 9:30, 2024/05/06 09:30:00.
_LOOSE_DATE = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?")


class ExpressionError(ValueError):
    """A template or expression that cannot be compiled. ``message`` says what is wrong,
    ``position`` is the 0-based index in the string where it was found."""

    def __init__(self, message, position=0):
        super().__init__(str(message), position)
        self.message = str(message)
        self.position = position

    def __str__(self):
        return _("%(message)s (at character %(column)d)") % {
            "message": self.message, "column": self.position + 1}

    def located(self, location):
        """The same error with the place in the configuration in front of the message."""
        if not location:
            return self
        return ExpressionError(f"{location}: {self.message}", self.position)


class EvaluationError(ValueError):
    """A function that could not work with the values it was given at run time."""

    def __init__(self, message, function=None):
        super().__init__(str(message))
        self.message = str(message)
        self.function = function

    def __str__(self):
        return self.message


class _ArgumentProblem(ValueError):
    """Raised inside a function; the call turns it into an EvaluationError naming the function,
    so no function has to repeat its own name in every message."""


@dataclass(frozen=True)
class Reference:
    """A value a template reads: ``steps.archive.status`` is Reference("steps",
    ("archive", "status"))."""

    root: str
    path: tuple = ()

    @property
    def step_key(self):
        if self.root == "steps" and self.path:
            return self.path[0]
        return None

    def resolve(self, context):
        value = context.get(self.root) if isinstance(context, Mapping) else None
        for key in self.path:
            if value is None:
                return None
            value = _lookup(value, key)
        return value

    def __str__(self):
        text = self.root
        for key in self.path:
            if isinstance(key, int):
                text += f"[{key}]"
            elif _is_name(key):
                text += f".{key}"
            else:
                text += "[" + json.dumps(key, ensure_ascii=False) + "]"
        return text


def _lookup(container, key):
    # Only dicts and lists are looked into: a name never becomes getattr() on an object.
    if isinstance(container, Mapping):
        value = container.get(key)
        if value is None and isinstance(key, int):
            # JSON objects have text keys; form_data[0] should still find the key "0".
            value = container.get(str(key))
        return value
    if isinstance(container, (list, tuple)) and isinstance(key, int):
        if -len(container) <= key < len(container):
            return container[key]
    return None


def _is_name(text):
    return bool(text) and (text[0] == "_" or text[0].isalpha()) and all(
        c == "_" or c.isalnum() for c in text)


# ---------------------------------------------------------------------------------------------
# Values as text, numbers and date-times: shared with actionflow.conditions.

def to_text(value):
    """A value as the text a placeholder inside other text writes."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return _in_time_zone(value).isoformat()
    if isinstance(value, (date_type, time)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple)):
        return to_json(value)
    return str(value)


def to_json(value):
    return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def _jsonable(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Decimal):
        return _plain_number(value)
    if isinstance(value, Mapping):
        return {to_text(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return to_text(value)


def _plain_number(value):
    """A Decimal as the int or float that JSON and timedelta understand."""
    if value.is_finite() and value == value.to_integral_value():
        return int(value)
    return float(value)


def to_number(value):
    """An int, float or Decimal for a number or numeric text, otherwise None. Booleans are
    not numbers (true is not 1 in a comparison)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_DIGITS or not _NUMERIC_TEXT.fullmatch(text):
            return None
        return int(text) if _INTEGER_TEXT.fullmatch(text) else Decimal(text)
    return None


def _local_zone():
    return timezone.get_default_timezone()


def _in_time_zone(value):
    if timezone.is_naive(value):
        return timezone.make_aware(value, _local_zone())
    return value.astimezone(_local_zone())


def to_datetime(value):
    """An aware date-time in TIME_ZONE from what date() accepts; None for null or empty text.
    Raises ValueError with a user-facing message when the value is not a date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(_("true / false is not a date."))
    if isinstance(value, datetime):
        return _in_time_zone(value)
    if isinstance(value, date_type):
        return timezone.make_aware(datetime.combine(value, time()), _local_zone())
    if isinstance(value, int):
        return _from_epoch_millis(value)
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH_MILLIS.fullmatch(text):
            return _from_epoch_millis(int(text))
        try:
            return _in_time_zone(datetime.fromisoformat(text))
        except ValueError:
            pass
        match = _LOOSE_DATE.fullmatch(text)
        if match:
            try:
                parts = [int(part) if part else 0 for part in match.groups()]
                return _in_time_zone(datetime(*parts))
            except ValueError:
                pass
        raise ValueError(_("“%(text)s” is not a date: write ISO 8601, yyyy-MM-dd HH:mm:ss, "
                           "yyyy-MM-dd or epoch milliseconds.") % {"text": _shorten(text)})
    raise ValueError(_("a %(type)s is not a date.") % {"type": _type_name(value)})


def _from_epoch_millis(millis):
    try:
        moment = datetime(1970, 1, 1, tzinfo=dt_timezone.utc) + timedelta(milliseconds=millis)
    except OverflowError:
        raise ValueError(_("%(millis)d milliseconds since 1970 is out of range.")
                         % {"millis": millis}) from None
    return moment.astimezone(_local_zone())


def _shorten(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "…"


def _type_name(value):
    if isinstance(value, Mapping):
        return _("object")
    if isinstance(value, (list, tuple)):
        return _("list")
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _("number")
    if isinstance(value, (datetime, date_type)):
        return _("date")
    return _("value")


# ---------------------------------------------------------------------------------------------
# Functions. Each receives evaluated arguments; a problem with one raises _ArgumentProblem.

def _urlencode(value):
    return quote(to_text(value), safe="")


def _date_argument(value):
    try:
        return to_datetime(value)
    except ValueError as exc:
        raise _ArgumentProblem(str(exc)) from None


def _date(value):
    return _date_argument(value)


def _date_add(value, amount, unit):
    moment = _date_argument(value)
    number = to_number(amount)
    if number is None:
        raise _ArgumentProblem(_("the amount “%(amount)s” is not a number.")
                               % {"amount": _shorten(to_text(amount))})
    unit_name = to_text(unit).strip().lower()
    if unit_name not in DATE_UNITS:
        raise _ArgumentProblem(_("unknown unit “%(unit)s”; use seconds, minutes, hours, days or "
                                 "weeks.") % {"unit": _shorten(to_text(unit))})
    if moment is None:
        return None
    if isinstance(number, Decimal):
        number = _plain_number(number)
    try:
        step = timedelta(**{unit_name: number})
        if unit_name in ("days", "weeks"):
            # Calendar units keep the wall-clock time even across a daylight-saving change.
            return moment + step
        return (moment.astimezone(dt_timezone.utc) + step).astimezone(_local_zone())
    except (OverflowError, ValueError):
        raise _ArgumentProblem(_("the result is outside the years 1 to 9999.")) from None


_PATTERN_FIELDS = (
    ("yyyy", lambda d: f"{d.year:04d}"),
    ("SSS", lambda d: f"{d.microsecond // 1000:03d}"),
    ("yy", lambda d: f"{d.year % 100:02d}"),
    ("MM", lambda d: f"{d.month:02d}"),
    ("dd", lambda d: f"{d.day:02d}"),
    ("HH", lambda d: f"{d.hour:02d}"),
    ("hh", lambda d: f"{(d.hour % 12) or 12:02d}"),
    ("mm", lambda d: f"{d.minute:02d}"),
    ("ss", lambda d: f"{d.second:02d}"),
    ("M", lambda d: str(d.month)),
    ("d", lambda d: str(d.day)),
    ("H", lambda d: str(d.hour)),
    ("h", lambda d: str((d.hour % 12) or 12)),
    ("m", lambda d: str(d.minute)),
    ("s", lambda d: str(d.second)),
)


def _format_date(value, pattern):
    if not isinstance(pattern, str) or not pattern:
        raise _ArgumentProblem(_("the pattern must be text such as “yyyy-MM-dd HH:mm:ss”."))
    moment = _date_argument(value)
    if moment is None:
        return None
    # The pattern is interpreted here, field by field, so administrator text never reaches
    # strftime (whose directives differ by platform and can raise on odd input).
    out = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "'":
            i = _quoted_literal(pattern, i + 1, out)
            continue
        for token, field in _PATTERN_FIELDS:
            if pattern.startswith(token, i):
                out.append(field(moment))
                i += len(token)
                break
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _quoted_literal(pattern, i, out):
    """Copy Java-style quoted text starting after its opening quote ('' is one quote, also
    inside quotes); returns the position after the closing quote. An unclosed quote runs to the
    end of the pattern, as in Java."""
    if pattern.startswith("'", i):
        out.append("'")
        return i + 1
    while i < len(pattern):
        if pattern[i] == "'":
            if pattern.startswith("''", i):
                out.append("'")
                i += 2
                continue
            return i + 1
        out.append(pattern[i])
        i += 1
    return i


def _lower(value):
    return to_text(value).lower()


def _upper(value):
    return to_text(value).upper()


def _trim(value):
    return to_text(value).strip()


def _concat(*values):
    return "".join(to_text(value) for value in values)


def _default(value, fallback):
    if value is None or (isinstance(value, str) and value == ""):
        return fallback
    return value


def _join(values, separator=","):
    if values is None:
        return ""
    if not isinstance(values, (list, tuple)):
        raise _ArgumentProblem(_("the first argument must be a list, not a %(type)s.")
                               % {"type": _type_name(values)})
    return to_text(separator).join(to_text(value) for value in values)


def _length(value):
    if value is None:
        return 0
    if isinstance(value, (str, list, tuple, Mapping)):
        return len(value)
    raise _ArgumentProblem(_("a %(type)s has no length; use it on a text, a list or an object.")
                           % {"type": _type_name(value)})


def _json(value):
    return to_json(value)


def _number(value):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = to_number(value)
    if number is None:
        raise _ArgumentProblem(_("“%(value)s” is not a number.")
                               % {"value": _shorten(to_text(value))})
    return number


# name → (callable, fewest arguments, most arguments or None for any number)
FUNCTIONS = {
    "urlencode": (_urlencode, 1, 1),
    "date": (_date, 1, 1),
    "date_add": (_date_add, 3, 3),
    "format_date": (_format_date, 2, 2),
    "lower": (_lower, 1, 1),
    "upper": (_upper, 1, 1),
    "trim": (_trim, 1, 1),
    "concat": (_concat, 1, None),
    "default": (_default, 2, 2),
    "join": (_join, 1, 2),
    "length": (_length, 1, 1),
    "json": (_json, 1, 1),
    "string": (to_text, 1, 1),
    "number": (_number, 1, 1),
}


# ---------------------------------------------------------------------------------------------
# Syntax tree.

@dataclass(frozen=True)
class _Literal:
    value: object

    def evaluate(self, context):
        return self.value

    def references(self):
        return ()


@dataclass(frozen=True)
class _Ref:
    reference: Reference

    def evaluate(self, context):
        return self.reference.resolve(context)

    def references(self):
        return (self.reference,)


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple
    position: int

    def evaluate(self, context):
        function = FUNCTIONS[self.name][0]
        values = [arg.evaluate(context) for arg in self.args]
        try:
            return function(*values)
        except _ArgumentProblem as exc:
            raise EvaluationError(_("%(function)s(): %(problem)s") % {
                "function": self.name, "problem": exc}, function=self.name) from None

    def references(self):
        return tuple(ref for arg in self.args for ref in arg.references())


# ---------------------------------------------------------------------------------------------
# Tokenizer and parser.

@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "string", "number", "punct" or "end"
    value: object
    position: int
    text: str

    def is_punct(self, character):
        return self.kind == "punct" and self.value == character


def _tokenize(text, position, placeholder_start=None):
    """Tokens from position up to the end of the text, or, inside a placeholder (whose "{{" is
    at placeholder_start), up to its closing "}}". Returns the tokens (the last of kind "end")
    and the position after them."""
    tokens = []
    length = len(text)
    inside = placeholder_start is not None
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            if inside:
                raise ExpressionError(_("The placeholder is not closed with “}}”."),
                                      placeholder_start)
            tokens.append(_Token("end", None, position, ""))
            return tokens, position
        character = text[position]
        if inside and text.startswith("}}", position):
            tokens.append(_Token("end", None, position, "}}"))
            return tokens, position + 2
        if character in "'\"":
            value, end = _read_string(text, position)
            tokens.append(_Token("string", value, position, text[position:end]))
        elif character in DIGITS or (character == "-" and position + 1 < length
                                     and text[position + 1] in DIGITS):
            match = _NUMBER_LITERAL.match(text, position)
            end = match.end()
            literal = match.group()
            if len(literal) > MAX_NUMBER_DIGITS:
                raise ExpressionError(_("A number may have at most %(limit)d digits.")
                                      % {"limit": MAX_NUMBER_DIGITS}, position)
            value = Decimal(literal) if "." in literal else int(literal)
            tokens.append(_Token("number", value, position, literal))
        elif character == "_" or character.isalpha():
            end = position + 1
            while end < length and (text[end] == "_" or text[end].isalnum()):
                end += 1
            tokens.append(_Token("name", text[position:end], position, text[position:end]))
        elif character in ".[](),":
            end = position + 1
            tokens.append(_Token("punct", character, position, character))
        else:
            raise ExpressionError(_("Unexpected character “%(character)s”.")
                                  % {"character": character}, position)
        position = end


def _read_string(text, start):
    quote_character = text[start]
    out = []
    i = start + 1
    while i < len(text):
        character = text[i]
        if character == "\\":
            if i + 1 >= len(text):
                break
            escaped = ESCAPES.get(text[i + 1])
            if escaped is None:
                raise ExpressionError(
                    _("Unknown escape “\\%(character)s” in a string; use \\\\, \\', \\\", \\n "
                      "or \\t.") % {"character": text[i + 1]}, i)
            out.append(escaped)
            i += 2
            continue
        if character == quote_character:
            return "".join(out), i + 1
        out.append(character)
        i += 1
    raise ExpressionError(_("The string is not closed with %(quote)s.")
                          % {"quote": quote_character}, start)


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.index = 0

    def peek(self):
        return self.tokens[self.index]

    def advance(self):
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def parse(self):
        """One whole expression: the tokens must end right after it."""
        if self.peek().kind == "end":
            raise ExpressionError(_("The expression is empty."), self.peek().position)
        node = self.expression(0)
        token = self.peek()
        if token.kind != "end":
            if token.is_punct(")") or token.is_punct("]"):
                raise ExpressionError(_("“%(bracket)s” has no opening bracket.")
                                      % {"bracket": token.value}, token.position)
            raise ExpressionError(
                _("Unexpected “%(token)s”: an expression is a single value, reference or "
                  "function call (there are no operators).") % {"token": token.text},
                token.position)
        return node

    def expression(self, depth):
        token = self.advance()
        if token.kind in ("string", "number"):
            return _Literal(token.value)
        if token.kind == "name":
            if self.peek().is_punct("("):
                return self.call(token, depth)
            if token.value in LITERAL_WORDS:
                return _Literal(LITERAL_WORDS[token.value])
            if token.value in ROOTS:
                return self.reference(token)
            if token.value in FUNCTIONS:
                raise ExpressionError(_("“%(name)s” is a function: call it as %(name)s(…).")
                                      % {"name": token.value}, token.position)
            raise ExpressionError(
                _("Unknown reference “%(name)s”: a reference starts with %(roots)s.")
                % {"name": token.value, "roots": ", ".join(ROOTS)}, token.position)
        if token.kind == "end":
            raise ExpressionError(_("A value is missing here."), token.position)
        raise ExpressionError(_("Unexpected “%(token)s”: a value is expected here.")
                              % {"token": token.text}, token.position)

    def call(self, name, depth):
        if name.value not in FUNCTIONS:
            raise ExpressionError(_("Unknown function “%(name)s”.") % {"name": name.value},
                                  name.position)
        if depth + 1 > MAX_DEPTH:
            raise ExpressionError(_("Function calls are nested more than %(limit)d deep.")
                                  % {"limit": MAX_DEPTH}, name.position)
        opening = self.advance()
        args = []
        if self.peek().is_punct(")"):
            self.advance()
        else:
            while True:
                args.append(self.expression(depth + 1))
                token = self.advance()
                if token.is_punct(")"):
                    break
                if token.is_punct(","):
                    continue
                if token.kind == "end":
                    raise ExpressionError(_("“(” is not closed."), opening.position)
                raise ExpressionError(_("Expected “,” or “)” here, not “%(token)s”.")
                                      % {"token": token.text}, token.position)
        fewest, most = FUNCTIONS[name.value][1:]
        if len(args) < fewest or (most is not None and len(args) > most):
            raise ExpressionError(
                _("%(function)s() takes %(expected)s, not %(given)d.") % {
                    "function": name.value, "expected": _arity(fewest, most), "given": len(args)},
                name.position)
        return _Call(name.value, tuple(args), name.position)

    def reference(self, root):
        path = []
        while True:
            token = self.peek()
            if token.is_punct("."):
                self.advance()
                key = self.advance()
                if key.kind != "name":
                    raise ExpressionError(
                        _("A name must follow “.”; write [0] for a position in a list and "
                          "[\"…\"] for any other key."), key.position)
                path.append(key.value)
            elif token.is_punct("["):
                self.advance()
                key = self.advance()
                if key.kind == "end":
                    raise ExpressionError(_("“[” is not closed."), token.position)
                if not (key.kind == "string" or (key.kind == "number"
                                                 and isinstance(key.value, int))):
                    raise ExpressionError(_("Inside [ ] write a whole number or a quoted key."),
                                          key.position)
                closing = self.advance()
                if not closing.is_punct("]"):
                    raise ExpressionError(_("“[” is not closed."), token.position)
                path.append(key.value)
            else:
                return _Ref(Reference(root.value, tuple(path)))


def _arity(fewest, most):
    if most is None:
        return _("at least %(count)d arguments") % {"count": fewest}
    if fewest == most:
        return _("%(count)d argument(s)") % {"count": fewest}
    return _("%(fewest)d to %(most)d arguments") % {"fewest": fewest, "most": most}


def _check_length(text):
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise ExpressionError(_("A template may have at most %(limit)d characters; this one has "
                                "%(length)d.") % {"limit": MAX_TEMPLATE_LENGTH,
                                                  "length": len(text)}, MAX_TEMPLATE_LENGTH)


# ---------------------------------------------------------------------------------------------
# Templates.

class Template:
    """A compiled template: literal text and placeholders, in order."""

    __slots__ = ("text", "parts", "references", "_single")

    def __init__(self, text, parts):
        self.text = text
        self.parts = tuple(parts)
        nodes = [part for part in self.parts if not isinstance(part, str)]
        found = []
        for node in nodes:
            for reference in node.references():
                if reference not in found:
                    found.append(reference)
        self.references = tuple(found)
        literal = "".join(part for part in self.parts if isinstance(part, str))
        self._single = nodes[0] if len(nodes) == 1 and not literal.strip() else None

    def render(self, context):
        if self._single is not None:
            return self._single.evaluate(context)
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        return "".join(part if isinstance(part, str) else to_text(part.evaluate(context))
                       for part in self.parts)

    def __repr__(self):
        return f"Template({self.text!r})"


@functools.lru_cache(maxsize=2048)
def compile_template(text):
    """Compile a template once; raises ExpressionError for a template that cannot run."""
    if not isinstance(text, str):
        raise TypeError(f"a template is a str, not {type(text).__name__}")
    _check_length(text)
    parts = []
    literal = []
    placeholders = 0
    position = 0
    escaped = False
    while True:
        start = text.find("{{", position)
        if start < 0:
            literal.append(text[position:])
            break
        if start > position and text[start - 1] == "\\":
            literal.append(text[position:start - 1])
            literal.append("{{")
            escaped = True
            position = start + 2
            continue
        literal.append(text[position:start])
        placeholders += 1
        if placeholders > MAX_PLACEHOLDERS:
            raise ExpressionError(_("A template may have at most %(limit)d placeholders.")
                                  % {"limit": MAX_PLACEHOLDERS}, start)
        tokens, position = _tokenize(text, start + 2, placeholder_start=start)
        if tokens[0].kind == "end":
            raise ExpressionError(_("The placeholder is empty."), start)
        node = _Parser(tokens).parse()
        if "".join(literal):
            parts.append("".join(literal))
        literal = []
        parts.append(node)
    if "".join(literal) or not parts:
        parts.append("".join(literal))
    if not placeholders and not escaped:
        # Returned unchanged: the very same string, not an equal copy.
        parts = [text]
    return Template(text, parts)


@functools.lru_cache(maxsize=2048)
def _compile_expression(expression):
    if not isinstance(expression, str):
        raise TypeError(f"an expression is a str, not {type(expression).__name__}")
    _check_length(expression)
    tokens, _end = _tokenize(expression, 0)
    return _Parser(tokens).parse()


def evaluate(expression, context):
    """The value of one bare expression (no braces), e.g. evaluate("steps.archive.status", ctx)."""
    return _compile_expression(expression).evaluate(context)


def render(value, context):
    """Render every string in value (dict values, list items, nested) against context; keys and
    non-string values are kept as they are."""
    if isinstance(value, str):
        return compile_template(value).render(context)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


def references(value, location=""):
    """Every reference in the strings of value as (location, Reference) pairs, the location
    written like ``inputs.url`` or ``branches[0].conditions[1].left``. A string that cannot be
    compiled raises ExpressionError whose message starts with its location."""
    found = []
    _collect(value, location, found)
    return found


def _collect(value, location, found):
    if isinstance(value, str):
        try:
            template = compile_template(value)
        except ExpressionError as exc:
            raise exc.located(location) from None
        found.extend((location, reference) for reference in template.references)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _collect(item, f"{location}.{key}" if location else str(key), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, f"{location}[{index}]", found)
