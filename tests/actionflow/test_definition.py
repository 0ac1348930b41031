"""What a flow must be before it is saved: known step kinds with well-formed settings,
expressions that parse, references only to earlier steps, branch arms naming later steps
owned once; and versions published only when something changed."""
import pytest

from actionflow.definition import check_steps, publish
from actionflow.models import FlowStep, FlowVersion

from .helpers import make_flow

pytestmark = pytest.mark.django_db

OUT = {"status": "success", "message": "ok"}


def step(key, kind="output", config=None):
    return {"key": key, "kind": kind, "config": OUT if config is None else config}


def problems(*steps):
    return {index: " | ".join(messages) for index, messages in check_steps(list(steps)).items()}


def test_a_well_formed_flow_has_no_problems():
    assert problems(
        step("call", "http", {"url": "http://erp/{{ urlencode(input.id) }}"}),
        step("done", config={"status": "success", "message": "{{ steps.call.status_code }}"}),
    ) == {}


@pytest.mark.parametrize("ref, message", [
    ("{{ steps.later.x }}", "The step “later” comes later; only earlier steps' outputs can be used."),
    ("{{ steps.ghost.x }}", "There is no step “ghost”."),
    ("{{ steps.me.x }}", "A step cannot use its own outputs (“me”)."),
    ("{{ steps }}", "Name a step after “steps.”."),
])
def test_references_must_name_an_earlier_step(ref, message):
    found = problems(step("first"), step("me", config={"status": "success", "message": ref}),
                     step("later"))
    assert found == {1: f"message: {message}"}


def test_an_expression_that_does_not_parse_is_refused_with_its_place():
    found = problems(step("a", config={"status": "success", "message": "{{ input.x "}))
    assert "Expression error: message:" in found[0]
    found = problems(step("a", config={"status": "success", "message": "{{ eval(1) }}"}))
    assert "eval" in found[0]


def test_unknown_kinds_duplicate_keys_and_bad_settings_are_refused():
    found = problems(step("a", "teleport"), step("b"), step("b"),
                     step("c", config={"status": "maybe"}),
                     step("d", "http", {"url": "http://x", "timeout": 0}))
    assert found[0] == "“teleport” is not a step kind."
    assert found[2] == "The key “b” is used by another step."
    assert found[3].startswith("status:")
    assert found[4].startswith("timeout:")


def test_branch_arms_name_later_steps_each_owned_once():
    def branch(key, arm_steps, otherwise=()):
        return step(key, "branch", {"branches": [{"name": "yes", "conditions": [
            {"left": "{{ input.ok }}", "operator": "is_true"}], "steps": arm_steps}],
            "otherwise": list(otherwise)})

    found = problems(step("early"), branch("b1", ["early", "ghost", "x"], ["x"]), step("x"))
    assert found == {1: " | ".join([
        "branch 1 names “early”, which does not come after this branch.",
        "branch 1 names no step “ghost”.",
        "“x” already belongs to another branch."])}


def test_a_condition_needs_an_operator_and_a_right_side_unless_unary():
    found = problems(step("b", "branch", {"branches": [{"name": "n", "conditions": [
        {"left": "{{ input.a }}", "operator": "resembles"},
        {"left": "{{ input.a }}", "operator": "equals"}]}]}))
    assert "branches:" in found[0] and "[0]" in found[0] and "[1]" in found[0]


def test_publishing_makes_a_new_version_only_when_the_definition_changed():
    flow = make_flow("v", steps=[step("a")])
    assert publish(flow).number == 1 and flow.version == 1
    FlowStep.objects.create(flow=flow, order=2, key="b", kind="output", config=OUT)
    second = publish(flow, "admin")
    assert (second.number, second.created_by) == (2, "admin")
    assert [s["key"] for s in second.definition["steps"]] == ["a", "b"]
    flow.node_name = "批准"
    flow.save()
    assert publish(flow).number == 3
    assert FlowVersion.objects.filter(flow=flow).count() == 3
    assert flow.current_version().definition["node_name"] == "批准"


def test_malformed_branch_settings_are_problems_not_crashes():
    found = problems(
        step("b", "branch", {"branches": [{"name": "n", "conditions": [
            {"left": "{{ input.a }}", "operator": "is_true"}], "steps": [{"a": 1}]}],
            "otherwise": 5}),
        step("c", "branch", {"branches": "x"}))
    assert set(found) == {0, 1}
    assert "otherwise" in found[0] and "branches" in found[1]
