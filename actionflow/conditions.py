"""Branch conditions of action flows: ``{"left": template, "operator": code, "right": template}``.

Both sides are templates (see actionflow.expressions), rendered against the run's context; a
side that is exactly one placeholder keeps its type, so ``{{ record.form_data.amount }}`` may
be a number, a date-time, a list or null. ``right`` is left out for the unary operators
``empty``, ``not_empty``, ``is_true`` and ``is_false``, and ignored when given.

How values are compared
-----------------------
* Numbers: when both sides are numbers or numeric text (``12``, ``" 12.50 "``, ``-3``; no
  exponents, no thousands separators) they compare as numbers, so ``"12.0"`` equals ``12`` and
  ``"9"`` is less than ``"10"``. true / false are not numbers.
* Date-times: when both sides are date-times or date text (ISO 8601 such as
  ``2024-05-06T09:30:00+08:00``, ``yyyy-MM-dd HH:mm:ss``, ``yyyy-MM-dd HH:mm``, ``yyyy-MM-dd``)
  they compare as moments; text without a zone is read in TIME_ZONE, and a bare date is its
  midnight.
* Otherwise ``equals`` compares the text forms (exactly, case and spaces included): null is the
  empty text, true / false are ``true`` / ``false``, so the boolean true equals the text
  ``"true"``, and lists and objects are compact JSON.
* ``greater``, ``greater_or_equal``, ``less`` and ``less_or_equal`` need two numbers, two
  date-times or two texts that are neither (compared character by character); anything else —
  text against a number, null, true / false, a list — is never greater or less: the condition is
  false, it does not fail.
* ``contains``: in a text, the right side is a part of it; in a list, an item that ``equals`` the
  right side; in an object, a key with that text; any other value is searched as text. An empty
  right side (null or the empty text) is contained in nothing, so an unfilled reference never
  makes ``contains`` hold. ``not_contains`` is its opposite.
* ``empty``: null, the empty text, text of spaces only, an empty list or object. ``0`` and
  false are not empty. ``not_empty`` is its opposite.
* ``is_true``: true, the number 1, or the text ``1``, ``true``, ``yes``, ``y`` or ``是`` (any
  case, spaces around ignored). ``is_false``: false, the number 0, null, the empty text, or the
  text ``0``, ``false``, ``no``, ``n`` or ``否``. A missing value is therefore false; any other
  value (``"maybe"``, ``2``) is neither true nor false.

A list of conditions matches in mode ``all`` when every condition holds and in mode ``any``
when at least one does. An empty list always matches (a branch without conditions is
unconditional), whatever the mode.
"""
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .expressions import ExpressionError, compile_template, render, to_datetime, to_number, to_text

OPERATORS = {
    "equals": gettext_lazy("equals"),
    "not_equals": gettext_lazy("does not equal"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
    "empty": gettext_lazy("is empty"),
    "not_empty": gettext_lazy("is not empty"),
    "greater": gettext_lazy("is greater than"),
    "greater_or_equal": gettext_lazy("is greater than or equal to"),
    "less": gettext_lazy("is less than"),
    "less_or_equal": gettext_lazy("is less than or equal to"),
    "is_true": gettext_lazy("is true"),
    "is_false": gettext_lazy("is false"),
}
UNARY = frozenset({"empty", "not_empty", "is_true", "is_false"})
MODES = ("all", "any")

TRUE_TEXTS = frozenset({"1", "true", "yes", "y", "是"})
FALSE_TEXTS = frozenset({"0", "false", "no", "n", "否", ""})
# Only text shaped like a date is read as one: fromisoformat alone would also take "20240506"
# or "2024-W19", which in a form field are far more likely codes than dates.
_DATE_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def compare(left, operator, right=None):
    """Whether ``left operator right`` holds, with the coercions of the module docstring."""
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise ValueError(_("Unknown condition operator “%(operator)s”.")
                         % {"operator": operator})
    if operator == "empty":
        return is_empty(left)
    if operator == "not_empty":
        return not is_empty(left)
    if operator == "is_true":
        return _truth(left) is True
    if operator == "is_false":
        return _truth(left) is False
    if operator == "equals":
        return _equal(left, right)
    if operator == "not_equals":
        return not _equal(left, right)
    if operator == "contains":
        return _contains(left, right)
    if operator == "not_contains":
        return not _contains(left, right)
    order = _order(left, right)
    if order is None:
        return False
    return {
        "greater": order > 0,
        "greater_or_equal": order >= 0,
        "less": order < 0,
        "less_or_equal": order <= 0,
    }[operator]


def is_empty(value):
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, Mapping)):
        return len(value) == 0
    return False


def _truth(value):
    """True, False, or None for a value that is neither."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float, Decimal)):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in TRUE_TEXTS else False if text in FALSE_TEXTS else None
    return None


def _kind(value):
    """("number", Decimal), ("datetime", aware datetime), ("text", str) or (None, value)."""
    if value is None or isinstance(value, bool):
        return None, value
    number = to_number(value)
    if number is not None:
        if isinstance(number, float):
            if math.isnan(number):
                return None, value
            # Decimal(0.1) would be 0.1000000000000000055…; the text form is what was meant.
            return "number", Decimal(repr(number))
        number = Decimal(number)
        return ("number", number) if not number.is_nan() else (None, value)
    if isinstance(value, (datetime, date)):
        return "datetime", to_datetime(value)
    if isinstance(value, str):
        if _DATE_TEXT.fullmatch(value.strip()):
            try:
                return "datetime", to_datetime(value)
            except ValueError:
                pass
        return "text", value
    return None, value


def _equal(left, right):
    left_kind, left_value = _kind(left)
    right_kind, right_value = _kind(right)
    if left_kind == right_kind and left_kind in ("number", "datetime"):
        return left_value == right_value
    return to_text(left) == to_text(right)


def _order(left, right):
    left_kind, left_value = _kind(left)
    right_kind, right_value = _kind(right)
    if left_kind is None or left_kind != right_kind:
        return None
    return (left_value > right_value) - (left_value < right_value)


def _contains(container, item):
    if item is None or (isinstance(item, str) and item == ""):
        return False
    if container is None:
        return False
    if isinstance(container, str):
        return to_text(item) in container
    if isinstance(container, Mapping):
        needle = to_text(item)
        return any(to_text(key) == needle for key in container)
    if isinstance(container, (list, tuple)):
        return any(_equal(member, item) for member in container)
    return to_text(item) in to_text(container)


def check_condition(condition):
    """Problems of one condition as {field: message}; empty when it can be saved."""
    if not isinstance(condition, Mapping):
        return {"__all__": _("A condition is an object with “left”, “operator” and “right”.")}
    errors = {}
    left = condition.get("left")
    if not isinstance(left, str) or not left.strip():
        errors["left"] = _("Enter what to test, usually a reference such as "
                           "{{ record.form_data.amount }}.")
    else:
        problem = _template_problem(left)
        if problem:
            errors["left"] = problem
    operator = condition.get("operator")
    if not isinstance(operator, str) or operator not in OPERATORS:
        errors["operator"] = _("Choose one of the operators: %(operators)s.") % {
            "operators": ", ".join(OPERATORS)}
    elif operator in UNARY:
        return errors
    right = condition.get("right")
    if right is None:
        if operator in OPERATORS:
            errors["right"] = _("Enter the value to compare with (to test for no value, use "
                                "the operator “is empty”).")
    elif isinstance(right, str):
        if not right.strip() and operator in OPERATORS:
            errors["right"] = _("Enter the value to compare with (to test for no value, use "
                                "the operator “is empty”).")
        else:
            problem = _template_problem(right)
            if problem:
                errors["right"] = problem
    elif not isinstance(right, (bool, int, float, Decimal)):
        errors["right"] = _("The value to compare with must be text or a number.")
    return errors


def _template_problem(text):
    try:
        compile_template(text)
    except ExpressionError as exc:
        return str(exc)
    return None


def matches(conditions, context, mode="all"):
    """Whether the conditions hold for context: all of them (mode "all") or at least one
    ("any"). Rendering errors (actionflow.expressions.EvaluationError) propagate."""
    if mode not in MODES:
        raise ValueError(_("Unknown condition mode “%(mode)s”: use “all” or “any”.")
                         % {"mode": mode})
    if not conditions:
        return True
    results = (_holds(condition, context) for condition in conditions)
    return all(results) if mode == "all" else any(results)


def _holds(condition, context):
    operator = condition.get("operator")
    left = render(condition.get("left"), context)
    right = None if operator in UNARY else render(condition.get("right"), context)
    return compare(left, operator, right)
