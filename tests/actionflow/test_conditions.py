"""Branch conditions: every operator, the coercions between numbers, date-times and text, the
checks made when a flow is saved, and all / any matching against a run's context."""
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from actionflow.conditions import OPERATORS, UNARY, check_condition, compare, matches
from actionflow.expressions import EvaluationError

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def test_operators_in_order_with_labels():
    assert list(OPERATORS) == [
        "equals", "not_equals", "contains", "not_contains", "empty", "not_empty", "greater",
        "greater_or_equal", "less", "less_or_equal", "is_true", "is_false"]
    assert all(str(label) for label in OPERATORS.values())
    assert str(OPERATORS["greater_or_equal"]) == "is greater than or equal to"
    assert UNARY == {"empty", "not_empty", "is_true", "is_false"}


@pytest.mark.parametrize("operator", [None, "", "EQUALS", "eq", "==", ["equals"], "between"])
def test_unknown_operator_is_a_value_error(operator):
    with pytest.raises(ValueError) as caught:
        compare(1, operator, 1)
    assert "operator" in str(caught.value)


class TestEquals:
    @pytest.mark.parametrize("left, right", [
        ("abc", "abc"),
        (12, 12),
        (12, "12"),
        ("12.0", 12),
        (" 12 ", "12"),
        (Decimal("1.50"), 1.5),
        (0.1, "0.1"),
        (-3, "-3.00"),
        (True, "true"),
        (False, "false"),
        (True, True),
        (None, None),
        (None, ""),
        (["a", 1], '["a",1]'),
        ({"k": "中"}, '{"k":"中"}'),
        ("2024-05-06", datetime(2024, 5, 6, tzinfo=SHANGHAI)),
        ("2024-05-06 09:30:00", "2024-05-06T01:30:00Z"),
        ("2024-05-06T09:30:00+08:00", datetime(2024, 5, 6, 1, 30, tzinfo=dt_timezone.utc)),
        (datetime(2024, 5, 6, 9, 30), "2024-05-06 09:30"),
        ("同意", "同意"),
    ])
    def test_equal(self, left, right):
        assert compare(left, "equals", right) is True
        assert compare(right, "equals", left) is True
        assert compare(left, "not_equals", right) is False

    @pytest.mark.parametrize("left, right", [
        ("abc", "ABC"),
        ("abc", "abc "),
        (12, 13),
        ("12", "12a"),
        (True, 1),
        (False, 0),
        (True, "yes"),
        (None, 0),
        (None, "null"),
        ("2024-05-06", "2024-05-07"),
        ("2024-05-06 09:30:00", "2024-05-06 09:30:01"),
        (["a"], "a"),
        ("1", "true"),
    ])
    def test_not_equal(self, left, right):
        assert compare(left, "equals", right) is False
        assert compare(left, "not_equals", right) is True

    def test_codes_with_leading_zeros_are_numbers_when_both_are_numeric(self):
        assert compare("007", "equals", "7") is True
        assert compare("007", "equals", "7a") is False


class TestOrdering:
    @pytest.mark.parametrize("left, right", [
        (10, 9),
        ("10", "9"),
        ("10", 9.5),
        (Decimal("0.3"), 0.2),
        ("-1", "-2"),
        ("2024-05-07", "2024-05-06 23:59:59"),
        (datetime(2024, 5, 6, 10, tzinfo=SHANGHAI), "2024-05-06T01:30:00Z"),
        ("b", "a"),
        ("abd", "abc"),
    ])
    def test_greater(self, left, right):
        assert compare(left, "greater", right) is True
        assert compare(left, "greater_or_equal", right) is True
        assert compare(left, "less", right) is False
        assert compare(left, "less_or_equal", right) is False
        assert compare(right, "less", left) is True
        assert compare(right, "less_or_equal", left) is True
        assert compare(right, "greater", left) is False

    @pytest.mark.parametrize("left, right", [
        (5, "5.0"),
        ("2024-05-06", "2024-05-06 00:00:00"),
        ("abc", "abc"),
    ])
    def test_equal_values_are_greater_or_equal_and_less_or_equal(self, left, right):
        assert compare(left, "greater_or_equal", right) is True
        assert compare(left, "less_or_equal", right) is True
        assert compare(left, "greater", right) is False
        assert compare(left, "less", right) is False

    def test_numbers_compare_as_numbers_not_text(self):
        assert compare("9", "less", "10") is True
        assert compare("1200", "greater", "999.99") is True

    @pytest.mark.parametrize("left, right", [
        ("abc", 5),
        (5, "abc"),
        (None, 5),
        (5, None),
        (None, None),
        (True, False),
        (1, True),
        (["a"], ["b"]),
        ({"a": 1}, 1),
        ("2024-05-06", 5),
        ("2024-05-06", "abc"),
        (datetime(2024, 5, 6, tzinfo=SHANGHAI), 20240506),
        (float("nan"), 1),
        (Decimal("NaN"), 1),
    ])
    def test_incomparable_values_are_never_greater_or_less(self, left, right):
        for operator in ("greater", "greater_or_equal", "less", "less_or_equal"):
            assert compare(left, operator, right) is False, operator


class TestContains:
    @pytest.mark.parametrize("container, item, expected", [
        ("财务部审批", "财务", True),
        ("财务部审批", "人事", False),
        ("abc", "ABC", False),
        (["a", "b"], "b", True),
        (["a", "b"], "c", False),
        ([1, 2, 3], "2", True),
        (["1.0"], 1, True),
        ([True], "true", True),
        ({"approved": 1, "k": 2}, "approved", True),
        ({"approved": 1}, 1, False),
        (12345, 23, True),
        (12345, "9", False),
        (None, "a", False),
        ("abc", None, False),
        ("abc", "", False),
        ([""], "", False),
        ([], "a", False),
    ])
    def test_contains(self, container, item, expected):
        assert compare(container, "contains", item) is expected
        assert compare(container, "not_contains", item) is (not expected)


class TestEmpty:
    @pytest.mark.parametrize("value", [None, "", "   ", "\u3000\n", [], {}, ()])
    def test_empty(self, value):
        assert compare(value, "empty") is True
        assert compare(value, "not_empty") is False

    @pytest.mark.parametrize("value", [0, False, "0", " x ", [None], {"a": None}, Decimal("0"),
                                       datetime(2024, 1, 1, tzinfo=SHANGHAI)])
    def test_not_empty(self, value):
        assert compare(value, "empty") is False
        assert compare(value, "not_empty") is True

    def test_right_side_is_ignored_for_unary_operators(self):
        assert compare("", "empty", "anything") is True
        assert compare("yes", "is_true", "no") is True


class TestTruth:
    @pytest.mark.parametrize("value", [True, 1, Decimal("1"), 1.0, "1", "true", "TRUE", " yes ",
                                       "Yes", "y", "Y", "是"])
    def test_true(self, value):
        assert compare(value, "is_true") is True
        assert compare(value, "is_false") is False

    @pytest.mark.parametrize("value", [False, 0, Decimal("0"), "0", "false", "False", "NO", "n",
                                       "否", None, "", "  "])
    def test_false(self, value):
        assert compare(value, "is_false") is True
        assert compare(value, "is_true") is False

    @pytest.mark.parametrize("value", ["maybe", 2, -1, "2", [], ["true"], {"a": 1},
                                       datetime(2024, 1, 1, tzinfo=SHANGHAI), "truee"])
    def test_neither(self, value):
        assert compare(value, "is_true") is False
        assert compare(value, "is_false") is False


class TestCheckCondition:
    def test_valid_conditions(self):
        assert check_condition({"left": "{{ record.form_data.amount }}", "operator": "greater",
                                "right": "1000"}) == {}
        assert check_condition({"left": "{{ steps.archive.status }}", "operator": "equals",
                                "right": "{{ input.expected }}"}) == {}
        assert check_condition({"left": "{{ input.x }}", "operator": "empty"}) == {}
        assert check_condition({"left": "{{ input.x }}", "operator": "is_true",
                                "right": None}) == {}
        assert check_condition({"left": "{{ input.x }}", "operator": "less", "right": 5}) == {}
        assert check_condition({"left": "{{ input.x }}", "operator": "equals",
                                "right": True}) == {}
        assert check_condition({"left": "fixed text", "operator": "contains", "right": "x",
                                "id": "c1"}) == {}

    def test_not_a_dict(self):
        for value in [None, "left", ["left", "equals"], 3]:
            errors = check_condition(value)
            assert list(errors) == ["__all__"]
            assert "left" in errors["__all__"]

    @pytest.mark.parametrize("left", [None, "", "   ", 5, ["{{ input.x }}"]])
    def test_left_is_required_text(self, left):
        errors = check_condition({"left": left, "operator": "empty"})
        assert list(errors) == ["left"]

    def test_left_with_a_syntax_error_names_it(self):
        errors = check_condition({"left": "{{ inpt.x }}", "operator": "not_empty"})
        assert list(errors) == ["left"]
        assert "“inpt”" in errors["left"]
        assert "character 4" in errors["left"]

    @pytest.mark.parametrize("operator", [None, "", "between", "EQUALS", ["equals"]])
    def test_operator_must_be_known(self, operator):
        errors = check_condition({"left": "{{ input.x }}", "operator": operator, "right": "1"})
        assert list(errors) == ["operator"]
        assert "equals" in errors["operator"]

    @pytest.mark.parametrize("right", [None, "", "  "])
    def test_right_is_required_for_binary_operators(self, right):
        condition = {"left": "{{ input.x }}", "operator": "equals"}
        if right is not None:
            condition["right"] = right
        errors = check_condition(condition)
        assert list(errors) == ["right"]
        assert "empty" in errors["right"]

    def test_right_must_be_text_or_a_number(self):
        for right in [["a"], {"a": 1}, object()]:
            errors = check_condition({"left": "{{ input.x }}", "operator": "equals",
                                      "right": right})
            assert list(errors) == ["right"]

    def test_right_with_a_syntax_error(self):
        errors = check_condition({"left": "{{ input.x }}", "operator": "equals",
                                  "right": "{{ lower() }}"})
        assert list(errors) == ["right"]
        assert "lower()" in errors["right"]

    def test_several_problems_at_once(self):
        errors = check_condition({"left": "{{ x }}", "operator": "nope", "right": "{{ y }}"})
        assert set(errors) == {"left", "operator", "right"}

    def test_unknown_operator_does_not_require_a_right_side(self):
        assert set(check_condition({"left": "{{ input.x }}", "operator": "nope"})) == {
            "operator"}


class TestMatches:
    @pytest.fixture
    def context(self):
        return {
            "record": {"form_data": {"amount": "1200.00", "dept": "财务部", "urgent": "是",
                                     "deadline": "2024-05-10", "cc": ["zhang", "li"]}},
            "steps": {"archive": {"status": "done", "count": 3}},
            "input": {"limit": 1000},
            "now": datetime(2024, 5, 6, 1, 30, tzinfo=dt_timezone.utc),
        }

    def test_all_and_any(self, context):
        conditions = [
            {"left": "{{ record.form_data.amount }}", "operator": "greater",
             "right": "{{ input.limit }}"},
            {"left": "{{ steps.archive.status }}", "operator": "equals", "right": "failed"},
        ]
        assert matches(conditions, context) is False
        assert matches(conditions, context, mode="all") is False
        assert matches(conditions, context, mode="any") is True
        conditions[1]["right"] = "done"
        assert matches(conditions, context, mode="all") is True

    def test_every_kind_of_value_through_templates(self, context):
        conditions = [
            {"left": "{{ record.form_data.amount }}", "operator": "greater_or_equal",
             "right": "1200"},
            {"left": "{{ steps.archive.count }}", "operator": "less", "right": "10"},
            {"left": "{{ record.form_data.dept }}", "operator": "contains", "right": "财务"},
            {"left": "{{ record.form_data.cc }}", "operator": "contains", "right": "li"},
            {"left": "{{ record.form_data.urgent }}", "operator": "is_true"},
            {"left": "{{ record.form_data.missing }}", "operator": "empty"},
            {"left": "{{ record.form_data.missing }}", "operator": "is_false"},
            {"left": "{{ steps.notrun.status }}", "operator": "not_equals", "right": "done"},
            {"left": "{{ record.form_data.deadline }}", "operator": "greater",
             "right": "{{ now }}"},
            {"left": "{{ now }}", "operator": "less",
             "right": "{{ date_add(record.form_data.deadline, -3, 'days') }}"},
            {"left": "{{ format_date(now, 'yyyy-MM-dd') }}", "operator": "equals",
             "right": "2024-05-06"},
            {"left": "dept {{ record.form_data.dept }}", "operator": "equals",
             "right": "dept 财务部"},
        ]
        for condition in conditions:
            assert matches([condition], context) is True, condition
        assert matches(conditions, context) is True

    def test_a_missing_reference_does_not_satisfy_comparisons(self, context):
        for operator in ("greater", "less", "contains", "equals", "is_true"):
            condition = {"left": "{{ record.form_data.missing }}", "operator": operator,
                         "right": "1"}
            assert matches([condition], context) is False, operator

    def test_empty_list_always_matches(self, context):
        assert matches([], context) is True
        assert matches([], context, mode="any") is True

    def test_any_stops_at_the_first_match(self, context):
        conditions = [
            {"left": "{{ steps.archive.status }}", "operator": "equals", "right": "done"},
            {"left": "{{ number('not a number') }}", "operator": "empty"},
        ]
        assert matches(conditions, context, mode="any") is True
        with pytest.raises(EvaluationError):
            matches(conditions, context, mode="all")

    def test_unknown_mode(self, context):
        with pytest.raises(ValueError) as caught:
            matches([], context, mode="some")
        assert "some" in str(caught.value)

    def test_unknown_operator_in_a_stored_condition(self, context):
        with pytest.raises(ValueError):
            matches([{"left": "a", "operator": "like", "right": "a"}], context)
