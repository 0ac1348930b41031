"""The action-flow expression language: templates, references, literals, functions, limits and
the refusals that name what is wrong and where."""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from actionflow import expressions
from actionflow.expressions import (
    FUNCTIONS, EvaluationError, ExpressionError, Reference, Template, compile_template, evaluate,
    references, render)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 5, 6, 1, 30, 15, 250000, tzinfo=dt_timezone.utc)  # 09:30:15.250 in Shanghai


@pytest.fixture(autouse=True)
def _shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def context():
    return {
        "input": {"workflowId": "WF-1", "requestId": 1001, "title": "报销 申请/2024",
                  "flag": True, "empty": "", "nothing": None, "ratio": Decimal("0.25"),
                  "tags": ["a", "b", "c"], "meta": {"k": "中", "n": 1}},
        "record": {"form_data": {"amount": 1200, "合同 金额": "88.50", "0": "zero-key",
                                 "created": "2024-05-01 08:00:00"}},
        "steps": {"archive": {"status": "done", "data": {"items": [{"id": 7}, {"id": 8}]}}},
        "trigger": {"node_name": "审批"},
        "run": {"id": 42},
        "flow": {"name": "归档流程"},
        "now": NOW,
    }


def error_of(text):
    with pytest.raises(ExpressionError) as caught:
        compile_template(text)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Templates


class TestTemplates:
    def test_a_single_placeholder_keeps_the_type_of_its_value(self, context):
        assert render("{{ input.flag }}", context) is True
        assert render("{{ input.requestId }}", context) == 1001
        assert render("{{ input.ratio }}", context) == Decimal("0.25")
        assert render("{{ input.tags }}", context) == ["a", "b", "c"]
        assert render("{{ input.meta }}", context) == {"k": "中", "n": 1}
        assert render("{{ input.nothing }}", context) is None
        assert render("{{ now }}", context) is NOW

    def test_whitespace_around_a_single_placeholder_still_gives_the_raw_value(self, context):
        assert render("  {{input.requestId}}\n", context) == 1001
        assert render("\t{{   steps.archive.data.items   }} ", context) == [{"id": 7}, {"id": 8}]

    def test_literals_keep_their_type(self):
        assert render("{{ 12 }}", {}) == 12
        assert render("{{ -3 }}", {}) == -3
        assert render("{{ 12.50 }}", {}) == Decimal("12.50")
        assert isinstance(render("{{ 0.5 }}", {}), Decimal)
        assert render("{{ true }}", {}) is True
        assert render("{{ false }}", {}) is False
        assert render("{{ null }}", {}) is None
        assert render("{{ 'text' }}", {}) == "text"

    def test_placeholders_inside_text_are_converted_to_text(self, context):
        text = ("id={{ input.requestId }} flag={{ input.flag }} off={{ false }} "
                "none=[{{ input.nothing }}] ratio={{ input.ratio }}")
        assert render(text, context) == "id=1001 flag=true off=false none=[] ratio=0.25"

    def test_lists_and_objects_become_compact_json_keeping_non_ascii(self, context):
        assert render("tags: {{ input.tags }}", context) == 'tags: ["a","b","c"]'
        assert render("meta: {{ input.meta }}", context) == 'meta: {"k":"中","n":1}'

    def test_json_text_of_nested_dates_and_decimals(self):
        moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=SHANGHAI)
        value = {"when": moment, "amount": Decimal("1.50"), "count": Decimal("3"), "t": ("x",)}
        assert render("{{ input.v }}!", {"input": {"v": value}}) == (
            '{"when":"2024-01-02T03:04:05+08:00","amount":1.5,"count":3,"t":["x"]}!')

    def test_date_times_become_iso_8601_in_the_console_time_zone(self, context):
        assert render("at {{ now }}", context) == "at 2024-05-06T09:30:15.250000+08:00"

    def test_a_naive_date_time_in_the_context_is_read_in_the_time_zone(self):
        assert render("at {{ input.t }}", {"input": {"t": datetime(2024, 1, 2, 3, 4)}}) == (
            "at 2024-01-02T03:04:00+08:00")

    def test_decimals_are_written_without_exponent(self):
        assert render("{{ input.d }}.", {"input": {"d": Decimal("1E+3")}}) == "1000."

    def test_adjacent_placeholders(self, context):
        assert render("{{ input.workflowId }}{{ run.id }}", context) == "WF-142"

    def test_string_without_placeholders_is_returned_unchanged(self):
        text = "plain text with } and }} and { alone"
        assert render(text, {}) is text
        assert compile_template(text).references == ()

    def test_escaped_braces_are_literal(self, context):
        assert render(r"\{{ input.workflowId }}", context) == "{{ input.workflowId }}"
        assert render(r"a \{{ b }} {{ input.workflowId }}", context) == "a {{ b }} WF-1"
        # An escape is text, so a single placeholder next to it is no longer raw.
        assert render(r"\{{{{ run.id }}", context) == "{{42"
        assert compile_template(r"\{{ steps.x }}").references == ()
        # The documented way to write a backslash right before a value.
        assert render(r'{{ "\\" }}{{ run.id }}', context) == "\\42"

    def test_closing_braces_inside_a_string_do_not_end_the_placeholder(self):
        assert render('{{ concat("a}}", "b") }}', {}) == "a}}b"

    def test_expressions_may_span_lines(self, context):
        assert render("{{ concat(\n  input.workflowId,\n  '-x'\n) }}", context) == "WF-1-x"

    def test_render_walks_dicts_and_lists_and_leaves_other_values_and_keys(self, context):
        config = {"url": "https://oa/{{ input.workflowId }}", "{{ keys }}": "stay",
                  "list": ["{{ run.id }}", 3, None, {"deep": "{{ input.flag }}"}],
                  "number": 5, "flag": False, "tuple": ("{{ run.id }}",)}
        assert render(config, context) == {
            "url": "https://oa/WF-1", "{{ keys }}": "stay",
            "list": [42, 3, None, {"deep": True}], "number": 5, "flag": False,
            "tuple": ("{{ run.id }}",)}

    def test_render_of_non_strings_returns_them_as_they_are(self):
        marker = object()
        assert render(marker, {}) is marker
        assert render(7, {}) == 7
        assert render(None, {}) is None

    def test_compiled_templates_are_cached(self):
        assert compile_template("{{ input.cached }}") is compile_template("{{ input.cached }}")
        assert isinstance(compile_template("x"), Template)

    def test_a_template_renders_against_any_context(self):
        template = compile_template("{{ input.a }}-{{ input.b }}")
        assert template.render({"input": {"a": 1, "b": 2}}) == "1-2"
        assert template.render({"input": {"a": "x"}}) == "x-"
        assert template.render({}) == "-"
        assert template.render(None) == "-"

    def test_non_string_template_is_a_programming_error(self):
        with pytest.raises(TypeError):
            compile_template(12)


# ---------------------------------------------------------------------------------------------
# References


class TestReferences:
    def test_every_root(self, context):
        assert evaluate("input.workflowId", context) == "WF-1"
        assert evaluate("record.form_data.amount", context) == 1200
        assert evaluate("steps.archive.status", context) == "done"
        assert evaluate("trigger.node_name", context) == "审批"
        assert evaluate("run.id", context) == 42
        assert evaluate("flow.name", context) == "归档流程"
        assert evaluate("now", context) is NOW
        assert evaluate("input", context) is context["input"]

    def test_indexes_and_quoted_keys(self, context):
        assert evaluate("steps.archive.data.items[0]", context) == {"id": 7}
        assert evaluate("steps.archive.data.items[1].id", context) == 8
        assert evaluate("steps.archive.data.items[-1]['id']", context) == 8
        assert evaluate('record.form_data["合同 金额"]', context) == "88.50"
        assert evaluate("steps['archive'][\"status\"]", context) == "done"

    def test_a_numeric_index_finds_a_text_key_of_an_object(self, context):
        assert evaluate("record.form_data[0]", context) == "zero-key"

    def test_unicode_names_after_a_dot(self):
        assert evaluate("input.金额", {"input": {"金额": 5}}) == 5

    def test_missing_keys_indexes_and_roots_give_none(self, context):
        assert evaluate("input.missing", context) is None
        assert evaluate("input.missing.deeper[3]", context) is None
        assert evaluate("steps.notyet.status", context) is None
        assert evaluate("steps.archive.data.items[5]", context) is None
        assert evaluate("steps.archive.data.items[-3]", context) is None
        assert evaluate("input.tags.first", context) is None
        assert evaluate("input.workflowId[0]", context) is None  # no indexing into text
        assert evaluate("input.requestId.x", context) is None
        assert evaluate("input.flag[0]", context) is None
        assert evaluate("input", {}) is None
        assert evaluate("steps.archive", {"steps": None}) is None
        assert evaluate("input.a", {"input": "not a dict"}) is None
        assert render("{{ flow.name }}", {}) is None

    def test_names_are_dict_keys_never_python_attributes(self, context):
        assert evaluate("input.__class__", context) is None
        assert evaluate("input.__class__.__mro__[1].__subclasses__", context) is None
        assert evaluate("input.items", context) is None
        assert evaluate("input.keys", context) is None
        assert evaluate("now.year", context) is None
        assert evaluate("input.workflowId.upper", context) is None
        assert evaluate("input.__class__", {"input": {"__class__": "a key"}}) == "a key"

    def test_objects_that_are_not_dicts_or_lists_are_never_looked_into(self):
        class Record:
            secret = "hidden"

            def __getitem__(self, key):
                raise AssertionError("must not be indexed")

        assert evaluate("record.secret", {"record": Record()}) is None
        assert evaluate("record[0]", {"record": Record()}) is None

    def test_template_references_in_order_without_repeats(self):
        template = compile_template(
            "{{ steps.archive.status }} {{ concat(input.a, steps.b.data.x[0], 'lit') }} "
            "{{ steps.archive.status }} {{ now }}")
        assert template.references == (
            Reference("steps", ("archive", "status")), Reference("input", ("a",)),
            Reference("steps", ("b", "data", "x", 0)), Reference("now", ()))

    def test_step_key(self):
        assert Reference("steps", ("archive", "status")).step_key == "archive"
        assert Reference("steps", ()).step_key is None
        assert Reference("input", ("archive",)).step_key is None
        assert compile_template("{{ steps['a b'].x }}").references[0].step_key == "a b"

    def test_reference_text(self):
        assert str(Reference("steps", ("archive", "data", "items", 0, "id"))) == (
            "steps.archive.data.items[0].id")
        assert str(Reference("record", ("form_data", "合同 金额"))) == 'record.form_data["合同 金额"]'
        assert str(Reference("now")) == "now"

    def test_references_walks_a_configuration_with_locations(self):
        config = {
            "inputs": {"workflowId": "{{ input.workflowId }}", "count": 3, "fixed": "text"},
            "branches": [
                {"conditions": [
                    {"left": "{{ record.form_data.amount }}", "operator": "greater", "right": "1"},
                    {"left": "{{ steps.archive.status }}", "operator": "equals",
                     "right": "{{ steps.check.result }} and {{ input.x }}"},
                ]},
            ],
        }
        found = references(config)
        assert found == [
            ("inputs.workflowId", Reference("input", ("workflowId",))),
            ("branches[0].conditions[0].left", Reference("record", ("form_data", "amount"))),
            ("branches[0].conditions[1].left", Reference("steps", ("archive", "status"))),
            ("branches[0].conditions[1].right", Reference("steps", ("check", "result"))),
            ("branches[0].conditions[1].right", Reference("input", ("x",))),
        ]
        assert [ref.step_key for _, ref in found] == [None, None, "archive", "check", None]

    def test_references_with_a_starting_location_and_plain_values(self):
        assert references("{{ run.id }}", "subject") == [("subject", Reference("run", ("id",)))]
        assert references(["{{ run.id }}"], "to") == [("to[0]", Reference("run", ("id",)))]
        assert references("{{ run.id }}") == [("", Reference("run", ("id",)))]
        assert references(12) == []
        assert references({"a": None, "b": [1, True]}) == []

    def test_references_prefixes_a_syntax_error_with_its_location(self):
        with pytest.raises(ExpressionError) as caught:
            references({"branches": [{"conditions": [{"left": "x {{ nope.a }}"}]}]})
        assert caught.value.message.startswith("branches[0].conditions[0].left: ")
        assert "nope" in caught.value.message
        assert caught.value.position == 5
        assert str(caught.value).startswith("branches[0].conditions[0].left: ")

    def test_references_error_without_location_is_unprefixed(self):
        with pytest.raises(ExpressionError) as caught:
            references("{{ nope }}")
        assert caught.value.message.startswith("Unknown reference")


# ---------------------------------------------------------------------------------------------
# Literals


class TestLiterals:
    def test_string_escapes(self):
        assert evaluate(r"'a\\b'", {}) == "a\\b"
        assert evaluate(r"'it\'s'", {}) == "it's"
        assert evaluate(r'"say \"hi\""', {}) == 'say "hi"'
        assert evaluate(r"'line\nnext\tcol'", {}) == "line\nnext\tcol"

    def test_quotes_of_the_other_kind_need_no_escape(self):
        assert evaluate("\"it's\"", {}) == "it's"
        assert evaluate("'say \"hi\"'", {}) == 'say "hi"'

    def test_numbers(self):
        assert evaluate("0", {}) == 0
        assert evaluate("-12", {}) == -12
        assert evaluate("3.25", {}) == Decimal("3.25")
        assert evaluate("-0.5", {}) == Decimal("-0.5")

    def test_keywords(self):
        assert evaluate("true", {}) is True
        assert evaluate("false", {}) is False
        assert evaluate("null", {}) is None

    def test_keywords_after_a_dot_are_keys(self):
        assert evaluate("input.true", {"input": {"true": "key"}}) == "key"
        assert evaluate("input.null", {"input": {}}) is None


# ---------------------------------------------------------------------------------------------
# Functions


class TestFunctions:
    def test_the_registry(self):
        assert set(FUNCTIONS) == {
            "urlencode", "date_add", "format_date", "date", "lower", "upper", "trim", "concat",
            "default", "join", "length", "json", "string", "number"}
        for name, (function, fewest, most) in FUNCTIONS.items():
            assert callable(function), name
            assert most is None or fewest <= most, name

    def test_urlencode(self, context):
        assert evaluate("urlencode(input.title)", context) == (
            "%E6%8A%A5%E9%94%80%20%E7%94%B3%E8%AF%B7%2F2024")
        assert evaluate("urlencode('a&b=c?d#e')", {}) == "a%26b%3Dc%3Fd%23e"
        assert evaluate("urlencode(input.requestId)", context) == "1001"
        assert evaluate("urlencode(null)", {}) == ""

    def test_lower_upper_trim(self, context):
        assert evaluate("lower('AbC')", {}) == "abc"
        assert evaluate("upper(input.workflowId)", context) == "WF-1"
        assert evaluate("upper('wf-1')", {}) == "WF-1"
        assert evaluate("trim('  a b \u3000')", {}) == "a b"
        assert evaluate("lower(null)", {}) == ""
        assert evaluate("upper(true)", {}) == "TRUE"
        assert evaluate("trim(12)", {}) == "12"

    def test_concat(self, context):
        assert evaluate("concat('a')", {}) == "a"
        assert evaluate("concat('id:', input.requestId, '/', input.flag, null, 1.5)",
                        context) == "id:1001/true1.5"
        assert evaluate("concat(input.tags, input.meta)", context) == '["a","b","c"]{"k":"中","n":1}'

    def test_default(self, context):
        assert evaluate("default(input.missing, 'fallback')", context) == "fallback"
        assert evaluate("default(input.empty, 'fallback')", context) == "fallback"
        assert evaluate("default(input.nothing, 3)", context) == 3
        assert evaluate("default(input.workflowId, 'fallback')", context) == "WF-1"
        assert evaluate("default(0, 1)", {}) == 0
        assert evaluate("default(false, true)", {}) is False
        assert evaluate("default(' ', 'x')", {}) == " "
        assert evaluate("default(input.tags, null)", context) == ["a", "b", "c"]

    def test_join(self, context):
        assert evaluate("join(input.tags, ' | ')", context) == "a | b | c"
        assert evaluate("join(input.tags)", context) == "a,b,c"
        assert evaluate("join(steps.archive.data.items, ';')", context) == '{"id":7};{"id":8}'
        assert evaluate("join(input.missing, ',')", context) == ""
        assert evaluate("join(input.v, '')", {"input": {"v": [1, None, True, Decimal("2.0")]}}) == (
            "1true2.0")

    def test_join_needs_a_list(self, context):
        with pytest.raises(EvaluationError) as caught:
            evaluate("join(input.workflowId, ',')", context)
        assert caught.value.function == "join"
        assert str(caught.value).startswith("join(): ")
        assert "list" in str(caught.value)

    def test_length(self, context):
        assert evaluate("length(input.tags)", context) == 3
        assert evaluate("length(input.title)", context) == 10  # characters, not bytes
        assert evaluate("length(input.meta)", context) == 2
        assert evaluate("length(input.missing)", context) == 0
        assert evaluate("length('')", {}) == 0

    @pytest.mark.parametrize("argument", ["12", "true", "now", "1.5"])
    def test_length_of_something_without_a_length(self, context, argument):
        with pytest.raises(EvaluationError) as caught:
            evaluate(f"length({argument})", context)
        assert str(caught.value).startswith("length(): ")

    def test_json(self, context):
        assert evaluate("json(input.workflowId)", context) == '"WF-1"'
        assert evaluate("json('a\"b')", {}) == '"a\\"b"'
        assert evaluate("json(input.missing)", context) == "null"
        assert evaluate("json(input.meta)", context) == '{"k":"中","n":1}'
        assert evaluate("json(input.flag)", context) == "true"
        assert evaluate("json(input.ratio)", context) == "0.25"
        assert evaluate("json(now)", context) == '"2024-05-06T09:30:15.250000+08:00"'

    def test_json_embeds_values_safely_in_a_json_body(self, context):
        import json
        body = render('{"title": {{ json(input.q) }}, "n": {{ json(run.id) }}}',
                      {"input": {"q": 'he said "hi"\n}'}, "run": {"id": 42}})
        assert json.loads(body) == {"title": 'he said "hi"\n}', "n": 42}

    def test_string(self, context):
        assert evaluate("string(input.requestId)", context) == "1001"
        assert evaluate("string(input.flag)", context) == "true"
        assert evaluate("string(null)", {}) == ""
        assert evaluate("string(input.tags)", context) == '["a","b","c"]'
        assert evaluate("string(now)", context) == "2024-05-06T09:30:15.250000+08:00"
        assert evaluate("string(2.50)", {}) == "2.50"

    def test_number(self, context):
        assert evaluate("number('12')", {}) == 12
        assert isinstance(evaluate("number('12')", {}), int)
        assert evaluate("number(' 12.50 ')", {}) == Decimal("12.50")
        assert evaluate("number('-3')", {}) == -3
        assert evaluate("number('.5')", {}) == Decimal("0.5")
        assert evaluate("number(record.form_data['合同 金额'])", context) == Decimal("88.50")
        assert evaluate("number(record.form_data.amount)", context) == 1200
        assert evaluate("number(input.ratio)", context) == Decimal("0.25")
        assert evaluate("number(input.missing)", context) is None
        assert evaluate("number('  ')", {}) is None

    @pytest.mark.parametrize("argument", ["'abc'", "'1e5'", "'1,234'", "true", "input.tags",
                                          "'NaN'", "'Infinity'"])
    def test_number_refuses_what_is_not_a_number(self, context, argument):
        with pytest.raises(EvaluationError) as caught:
            evaluate(f"number({argument})", context)
        assert str(caught.value).startswith("number(): ")

    def test_date_reads_iso_8601_and_oa_formats(self):
        assert evaluate("date('2024-05-06T09:30:00+08:00')", {}) == datetime(
            2024, 5, 6, 9, 30, tzinfo=SHANGHAI)
        assert evaluate("date('2024-05-06T01:30:00Z')", {}) == datetime(
            2024, 5, 6, 9, 30, tzinfo=SHANGHAI)
        assert evaluate("date('2024-05-06 09:30:00')", {}) == datetime(
            2024, 5, 6, 9, 30, tzinfo=SHANGHAI)
        assert evaluate("date('2024-05-06 09:30')", {}) == datetime(
            2024, 5, 6, 9, 30, tzinfo=SHANGHAI)
        assert evaluate("date('2024-05-06')", {}) == datetime(2024, 5, 6, tzinfo=SHANGHAI)
        assert evaluate("date('2024/5/6 9:30')", {}) == datetime(
            2024, 5, 6, 9, 30, tzinfo=SHANGHAI)
        assert evaluate("date(' 2024-5-6 ')", {}) == datetime(2024, 5, 6, tzinfo=SHANGHAI)

    def test_date_results_are_aware_and_in_the_time_zone(self):
        value = evaluate("date('2024-05-06T01:30:00+00:00')", {})
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(hours=8)
        assert (value.hour, value.minute) == (9, 30)

    def test_date_follows_the_configured_time_zone(self, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        value = evaluate("date('2024-01-15 12:00:00')", {})
        assert value.utcoffset() == timedelta(hours=1)
        assert value.astimezone(dt_timezone.utc).hour == 11

    def test_date_reads_epoch_milliseconds(self):
        expected = datetime(2024, 5, 6, 9, 30, 0, 123000, tzinfo=SHANGHAI)
        millis = 1714959000123
        assert evaluate(f"date({millis})", {}) == expected
        assert evaluate(f"date('{millis}')", {}) == expected
        assert evaluate("date(0)", {}) == datetime(1970, 1, 1, 8, tzinfo=SHANGHAI)

    def test_date_of_a_date_time_normalises_it(self, context):
        assert evaluate("date(now)", context) == NOW
        assert evaluate("date(now)", context).tzinfo == SHANGHAI
        naive = {"input": {"t": datetime(2024, 1, 2, 3, 4)}}
        assert evaluate("date(input.t)", naive) == datetime(2024, 1, 2, 3, 4, tzinfo=SHANGHAI)

    def test_date_of_nothing_is_nothing(self, context):
        assert evaluate("date(input.missing)", context) is None
        assert evaluate("date('')", {}) is None

    @pytest.mark.parametrize("argument", ["'next tuesday'", "'2024-13-01'", "true", "1.5",
                                          "input.tags", "99999999999999999"])
    def test_date_refuses_what_is_not_a_date(self, context, argument):
        with pytest.raises(EvaluationError) as caught:
            evaluate(f"date({argument})", context)
        assert str(caught.value).startswith("date(): ")
        assert caught.value.function == "date"

    def test_date_add_every_unit(self, context):
        base = datetime(2024, 5, 6, 9, 30, 15, 250000, tzinfo=SHANGHAI)
        for unit, step in [("seconds", timedelta(seconds=30)), ("minutes", timedelta(minutes=30)),
                           ("hours", timedelta(hours=30)), ("days", timedelta(days=30)),
                           ("weeks", timedelta(weeks=30))]:
            assert evaluate(f"date_add(now, 30, '{unit}')", context) == base + step, unit

    def test_date_add_negative_decimal_and_textual_amounts(self, context):
        assert evaluate("date_add('2024-03-01', -1, 'days')", {}) == datetime(
            2024, 2, 29, tzinfo=SHANGHAI)
        assert evaluate("date_add('2024-03-01 00:00:00', 1.5, 'hours')", {}) == datetime(
            2024, 3, 1, 1, 30, tzinfo=SHANGHAI)
        assert evaluate("date_add('2024-03-01', '2', 'Weeks')", {}) == datetime(
            2024, 3, 15, tzinfo=SHANGHAI)
        assert evaluate("date_add(1714959000000, 1, 'seconds')", {}) == datetime(
            2024, 5, 6, 9, 30, 1, tzinfo=SHANGHAI)

    def test_date_add_days_keep_wall_clock_time_and_hours_count_elapsed_time(self, settings):
        settings.TIME_ZONE = "Europe/Berlin"  # summer time starts 2024-03-31 02:00
        before = "'2024-03-30 12:00:00'"
        one_day = evaluate(f"date_add({before}, 1, 'days')", {})
        assert (one_day.day, one_day.hour) == (31, 12)
        assert one_day.utcoffset() == timedelta(hours=2)
        hours = evaluate(f"date_add({before}, 24, 'hours')", {})
        assert (hours.day, hours.hour) == (31, 13)

    def test_date_add_of_nothing_is_nothing(self, context):
        assert evaluate("date_add(input.missing, 1, 'days')", context) is None

    @pytest.mark.parametrize("expression, problem", [
        ("date_add(now, 1, 'years')", "years"),
        ("date_add(now, 1, null)", "unit"),
        ("date_add(now, 'abc', 'days')", "abc"),
        ("date_add(now, null, 'days')", "amount"),
        ("date_add(now, true, 'days')", "amount"),
        ("date_add('soon', 1, 'days')", "soon"),
        ("date_add(now, 99999999999, 'weeks')", "9999"),
        ("date_add('9999-12-31', 1, 'days')", "9999"),
    ])
    def test_date_add_refusals_name_the_function_and_the_problem(self, context, expression,
                                                                 problem):
        with pytest.raises(EvaluationError) as caught:
            evaluate(expression, context)
        assert str(caught.value).startswith("date_add(): ")
        assert problem in str(caught.value)

    def test_format_date_tokens(self, context):
        assert evaluate("format_date(now, 'yyyy-MM-dd HH:mm:ss')", context) == "2024-05-06 09:30:15"
        assert evaluate("format_date(now, 'yy/M/d H:m:s.SSS')", context) == "24/5/6 9:30:15.250"
        assert evaluate("format_date(now, 'yyyy年MM月dd日')", context) == "2024年05月06日"
        assert evaluate("format_date(now, 'yyyyMMddHHmmss')", context) == "20240506093015"

    def test_format_date_twelve_hour_clock(self):
        assert evaluate("format_date('2024-05-06 21:05:00', 'hh:mm h')", {}) == "09:05 9"
        assert evaluate("format_date('2024-05-06 00:05:00', 'hh')", {}) == "12"
        assert evaluate("format_date('2024-05-06 12:05:00', 'h')", {}) == "12"

    def test_format_date_quoted_text_is_literal(self, context):
        assert evaluate("format_date(now, \"yyyy-MM-dd'T'HH:mm\")", context) == "2024-05-06T09:30"
        assert evaluate("format_date(now, \"'at' HH 'o''clock'''\")", context) == "at 09 o'clock'"
        assert evaluate("format_date(now, \"''yyyy''\")", context) == "'2024'"
        assert evaluate("format_date(now, \"HH 'unclosed mm\")", context) == "09 unclosed mm"

    def test_format_date_never_passes_the_pattern_to_strftime(self, context):
        assert evaluate("format_date(now, '%Y %s %n {0} %%')", context) == "%Y %15 %n {0} %%"

    def test_format_date_converts_to_the_time_zone_and_reads_text(self, context):
        assert evaluate("format_date('2024-05-06T01:30:00Z', 'HH:mm')", {}) == "09:30"
        assert evaluate("format_date(1714959000000, 'yyyy-MM-dd HH:mm')", {}) == "2024-05-06 09:30"
        assert evaluate("format_date(record.form_data.created, 'dd/MM')", context) == "01/05"

    def test_format_date_of_nothing_is_nothing(self, context):
        assert evaluate("format_date(input.missing, 'yyyy')", context) is None

    @pytest.mark.parametrize("expression", ["format_date(now, '')", "format_date(now, 12)",
                                            "format_date(now, null)",
                                            "format_date('yesterday', 'yyyy')"])
    def test_format_date_refusals(self, context, expression):
        with pytest.raises(EvaluationError) as caught:
            evaluate(expression, context)
        assert str(caught.value).startswith("format_date(): ")

    def test_nested_calls(self, context):
        assert evaluate("upper(default(input.missing, concat(trim(' x '), '-', run.id)))",
                        context) == "X-42"
        assert render("due {{ format_date(date_add(now, 3, 'days'), 'MM-dd') }}", context) == (
            "due 05-09")

    def test_errors_inside_nested_calls_name_the_inner_function(self, context):
        with pytest.raises(EvaluationError) as caught:
            evaluate("upper(number('x'))", context)
        assert caught.value.function == "number"


# ---------------------------------------------------------------------------------------------
# Refusals at compile time


class TestCompileErrors:
    def test_unknown_root_is_named_with_its_position(self):
        error = error_of("Hello {{ user.name }}")
        assert "“user”" in error.message
        assert error.position == 9
        assert "(at character 10)" in str(error)

    def test_a_function_name_used_as_a_reference(self):
        error = error_of("{{ upper }}")
        assert "upper(" in error.message
        assert error.position == 3

    def test_unknown_function(self):
        error = error_of("{{ input.a }} {{ eval('1+1') }}")
        assert "“eval”" in error.message
        assert error.position == 17

    @pytest.mark.parametrize("expression", ["lower()", "lower('a', 'b')", "date_add(now, 1)",
                                            "default('a')", "concat()", "join()",
                                            "join(input.a, ',', 'x')", "format_date(now)"])
    def test_wrong_number_of_arguments(self, expression):
        name = expression.split("(")[0]
        error = error_of("{{ " + expression + " }}")
        assert error.message.startswith(f"{name}() takes ")
        assert error.position == 3

    def test_arity_messages_describe_the_range(self):
        assert "1 argument" in error_of("{{ lower() }}").message
        assert "at least 1" in error_of("{{ concat() }}").message
        assert "1 to 2" in error_of("{{ join() }}").message

    def test_unterminated_string(self):
        error = error_of("ab {{ concat('open) }}")
        assert error.position == 13
        assert "not closed" in error.message

    def test_string_ending_in_a_backslash_is_unterminated(self):
        with pytest.raises(ExpressionError) as caught:
            evaluate("'abc\\", {})
        assert caught.value.position == 0

    def test_unknown_escape(self):
        error = error_of(r"{{ 'a\qb' }}")
        assert error.position == 5
        assert r"\q" in error.message

    def test_unclosed_placeholder(self):
        error = error_of("text {{ input.a ")
        assert error.position == 5
        assert "}}" in error.message

    def test_empty_placeholder(self):
        assert error_of("a {{  }} b").position == 2

    def test_unclosed_parenthesis(self):
        error = error_of("{{ upper(lower(input.a) }}")
        assert error.position == 8
        assert "(" in error.message

    def test_unopened_parenthesis_and_bracket(self):
        assert error_of("{{ input.a) }}").position == 10
        assert error_of("{{ input.a] }}").position == 10

    def test_unclosed_bracket(self):
        assert error_of("{{ input.a[0 }}").position == 10
        assert error_of("{{ input.a['k' 1] }}").position == 10

    def test_bad_index(self):
        assert error_of("{{ input.a[1.5] }}").position == 11
        assert error_of("{{ input.a[input.b] }}").position == 11
        assert error_of("{{ input.a[] }}").position == 11

    def test_a_dot_needs_a_name(self):
        error = error_of("{{ input.0 }}")
        assert error.position == 9
        assert "[0]" in error.message
        assert error_of("{{ input. }}").position == 10

    def test_no_operators(self):
        for text, position in [("{{ input.a + 1 }}", 11), ("{{ 1 2 }}", 5),
                               ("{{ input.a == 'x' }}", 11), ("{{ 'a' 'b' }}", 7),
                               ("{{ lower('a').x }}", 13)]:
            assert error_of(text).position == position, text

    def test_unexpected_characters(self):
        for text, position in [("{{ input.a; }}", 10), ("{{ @x }}", 3), ("{{ input.a } }}", 11),
                               ("{{ -x }}", 3), ("{{ {{ }}", 3)]:
            assert error_of(text).position == position, text

    def test_missing_argument_after_a_comma(self):
        assert error_of("{{ concat('a',) }}").position == 14
        assert error_of("{{ concat(,'a') }}").position == 10

    def test_expected_comma(self):
        error = error_of("{{ concat('a' 'b') }}")
        assert error.position == 14

    def test_evaluate_refuses_braces_and_empty_expressions(self):
        for expression in ["{{ input.a }}", "", "   ", "input.a }}"]:
            with pytest.raises(ExpressionError):
                evaluate(expression, {})

    def test_error_message_and_position_attributes(self):
        error = error_of("{{ nope }}")
        assert isinstance(error, ValueError)
        assert error.message and isinstance(error.message, str)
        assert error.position == 3


# ---------------------------------------------------------------------------------------------
# Limits


class TestLimits:
    def test_template_length(self):
        fits = "x" * expressions.MAX_TEMPLATE_LENGTH
        assert render(fits, {}) == fits
        error = error_of(fits + "y")
        assert error.position == expressions.MAX_TEMPLATE_LENGTH
        assert "10000" in error.message
        with pytest.raises(ExpressionError):
            evaluate("'" + "a" * expressions.MAX_TEMPLATE_LENGTH + "'", {})

    def test_placeholder_count(self):
        fits = "{{ run.id }}," * expressions.MAX_PLACEHOLDERS
        assert render(fits, {"run": {"id": 1}}) == "1," * expressions.MAX_PLACEHOLDERS
        error = error_of(fits + "{{ run.id }}")
        assert error.position == len(fits)
        assert "200" in error.message

    def test_escaped_braces_do_not_count_as_placeholders(self):
        text = "\\{{ x }}" * (expressions.MAX_PLACEHOLDERS + 5)
        assert render(text, {}) == "{{ x }}" * (expressions.MAX_PLACEHOLDERS + 5)

    def test_nesting_depth(self):
        def nested(depth):
            return "upper(" * depth + "'a'" + ")" * depth

        assert evaluate(nested(expressions.MAX_DEPTH), {}) == "A"
        with pytest.raises(ExpressionError) as caught:
            evaluate(nested(expressions.MAX_DEPTH + 1), {})
        assert caught.value.position == len("upper(") * expressions.MAX_DEPTH
        assert "20" in caught.value.message

    def test_very_deep_nesting_is_a_clean_error_not_a_recursion_error(self):
        error = error_of("{{ " + "lower(" * 1200 + "'a'" + ")" * 1200 + " }}")
        assert error.position == 3 + len("lower(") * expressions.MAX_DEPTH

    def test_number_literal_length(self):
        assert error_of("{{ " + "9" * 101 + " }}").position == 3
        assert render("{{ " + "9" * 100 + " }}", {}) == int("9" * 100)


# ---------------------------------------------------------------------------------------------
# Nothing reaches Python


class TestSandbox:
    @pytest.mark.parametrize("name", ["__import__", "eval", "exec", "open", "getattr", "globals",
                                      "compile", "print", "type", "vars", "locals", "breakpoint"])
    def test_builtins_are_unknown_functions(self, name):
        error = error_of("{{ " + name + "('os') }}")
        assert f"“{name}”" in error.message

    @pytest.mark.parametrize("name", ["__builtins__", "os", "self", "context", "settings",
                                      "expressions", "FUNCTIONS"])
    def test_python_names_are_unknown_references(self, name):
        assert error_of("{{ " + name + " }}").position == 3

    def test_attribute_tricks_only_look_up_keys(self, context):
        for expression in ["input.__class__", "input.__dict__", "input.__globals__",
                           "input.get", "steps.archive.__len__", "run.__init__.__globals__",
                           "input.tags.__class__.__base__", "now.tzinfo", "now.__class__",
                           "flow.__module__", "input['__class__']"]:
            assert evaluate(expression, context) is None, expression

    def test_function_names_are_not_values(self):
        assert error_of("{{ input.a(1) }}").position == 10
        assert error_of("{{ concat(upper, 'a') }}").position == 10

    def test_python_literal_syntax_is_refused(self):
        for text in ["{{ [1, 2] }}", "{{ {'a': 1} }}", "{{ (1) }}", "{{ lambda: 1 }}",
                     "{{ 1e5 }}", "{{ 0x10 }}", "{{ None }}", "{{ True }}", "{{ f'{x}' }}"]:
            with pytest.raises(ExpressionError):
                compile_template(text)

    def test_values_that_look_like_code_stay_text(self, context):
        hostile = {"input": {"code": "{{ __import__('os').system('id') }}"}}
        assert render("{{ input.code }}", hostile) == "{{ __import__('os').system('id') }}"
        assert render("x {{ input.code }}", hostile) == "x {{ __import__('os').system('id') }}"

    def test_the_module_uses_no_dynamic_evaluation(self):
        import ast
        import inspect

        tree = ast.parse(inspect.getsource(expressions))
        called = {node.func.id for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "getattr", "__import__", "setattr"}
