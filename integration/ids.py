"""Ids typed by people or sent by other systems: ASCII digits (str.isdigit() also takes "²",
which int() refuses) within PostgreSQL's bigint, the type of every primary key here (archive
scheme ids are snowflakes of 18–19 digits)."""
import re

BIGINT_MAX = 2 ** 63 - 1
DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(value):
    """The id `value` names (surrounding blanks ignored), or None."""
    value = str(value if value is not None else "").strip()
    return int(value) if DIGITS.fullmatch(value) and int(value) <= BIGINT_MAX else None
