"""The low-code platform's callback signature (seeds 003, "签名过程").

Every parameter except `sign` takes part. Keys are ordered by Java's
`String.CASE_INSENSITIVE_ORDER`, the values are concatenated in that order, the source's system
token is appended, and the MD5 of the UTF-8 bytes, in lowercase hex, is the signature.

Java compares strings as sequences of UTF-16 code units, one unit at a time: equal units go
on; otherwise both are upper-cased and, if still different, both are lower-cased, and the
difference of those decides; a shorter prefix sorts first. Case mapping is per unit
(`Character.toUpperCase(char)`), so "ß" stays "ß" where Python's str.upper() would make "SS".
Sorting by str.upper() or by str.lower() gives a different order ("_" is 95, between the
upper-case and the lower-case letters), and so does comparing code points instead of
UTF-16 units outside the BMP. Keys Java finds equal (e.g. "taskId" and "TASKID") would be
merged by the platform's TreeMap, so they are refused as ambiguous.

Java 16+ compares supplementary characters by code point; parameter names outside the BMP
never occur in practice and we follow the UTF-16 unit rule of the documented (Java 8) platform.
"""
import hashlib
import hmac
from functools import cmp_to_key, lru_cache

# Python's str.upper()/str.lower() apply the full (SpecialCasing) mappings, which may expand one
# character into several. Java's Character.toUpperCase(char) uses the simple, one-to-one
# mapping. Where the full mapping expands, the simple upper-case mapping is the title-case
# letter when that is a single character (e.g. U+1F80 → U+1F88), otherwise the character
# itself (ß, ŉ, ǰ, ligatures); the only expanding lower-case mapping is İ → "i̇", simply "i".
_SIMPLE_LOWER_EXCEPTIONS = {"\u0130": "i"}


@lru_cache(maxsize=4096)
def _upper(unit: int) -> int:
    char = chr(unit)
    mapped = char.upper()
    if len(mapped) != 1:
        titled = char.title()
        mapped = titled if len(titled) == 1 else char
    return ord(mapped)


@lru_cache(maxsize=4096)
def _lower(unit: int) -> int:
    char = chr(unit)
    mapped = _SIMPLE_LOWER_EXCEPTIONS.get(char) or char.lower()
    return ord(mapped) if len(mapped) == 1 else unit


def utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]


def java_compare_ignore_case(a: str, b: str) -> int:
    """String.CASE_INSENSITIVE_ORDER.compare(a, b): negative, zero or positive."""
    units_a, units_b = utf16_units(a), utf16_units(b)
    for c1, c2 in zip(units_a, units_b):  # noqa: B905 - stops at the shorter, on purpose
        if c1 == c2:
            continue
        c1, c2 = _upper(c1), _upper(c2)
        if c1 == c2:
            continue
        c1, c2 = _lower(c1), _lower(c2)
        if c1 != c2:
            return c1 - c2
    return len(units_a) - len(units_b)


def sort_keys(keys) -> list[str]:
    """The keys in the platform's order. Python's sort is stable, so keys Java finds equal
    keep their given order: check ambiguous_keys() first."""
    return sorted(keys, key=cmp_to_key(java_compare_ignore_case))


def ambiguous_keys(keys) -> list[list[str]]:
    """Groups of distinct keys that the platform's TreeMap would merge into one."""
    ordered = sort_keys(keys)
    groups, current = [], ordered[:1]
    for key in ordered[1:]:
        if java_compare_ignore_case(current[-1], key) == 0:
            current.append(key)
        else:
            if len(current) > 1:
                groups.append(current)
            current = [key]
    if len(current) > 1:
        groups.append(current)
    return groups


def signing_string(params: dict, token: str) -> str:
    """The text that is hashed: values of every parameter but `sign`, in key order, then the
    token. Values are text already (see hooks.params)."""
    keys = sort_keys(k for k in params if k != "sign")
    return "".join(params[k] for k in keys) + token


def compute_sign(params: dict, token: str) -> str:
    return hashlib.md5(signing_string(params, token).encode("utf-8")).hexdigest()


def sign_matches(params: dict, token: str, sign: str) -> bool:
    """Constant-time comparison; the platform's hex may come in either case."""
    expected = compute_sign(params, token)
    return hmac.compare_digest(expected.encode("ascii"), sign.lower().encode("utf-8"))
