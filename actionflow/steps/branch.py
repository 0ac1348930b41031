"""Branch step (分支): arms with conditions, the first arm whose conditions hold is taken,
and an "otherwise" arm (其他条件). Each arm names the steps it owns; owned steps run only when
their arm is chosen, and everything not owned by an arm runs in order as usual."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from ..conditions import check_condition, compare
from .base import OTHERWISE, Step, StepResult, register


class Arm(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    mode = serializers.ChoiceField(choices=[("all", gettext_lazy("all conditions")),
                                            ("any", gettext_lazy("any condition"))],
                                   default="all")
    conditions = serializers.ListField(child=serializers.DictField(), min_length=1,
                                       max_length=50)
    steps = serializers.ListField(child=serializers.CharField(max_length=40), default=list)

    def validate_conditions(self, value):
        problems = [f"[{index}] {field}: {message}"
                    for index, condition in enumerate(value)
                    for field, message in check_condition(condition).items()]
        if problems:
            raise serializers.ValidationError(problems)
        return value


class BranchConfig(serializers.Serializer):
    branches = Arm(many=True, min_length=1, max_length=20)
    otherwise = serializers.ListField(child=serializers.CharField(max_length=40), default=list)


@register
class Branch(Step):
    kind = "branch"
    label = gettext_lazy("Branch")
    description = gettext_lazy(
        "Arms with conditions (equals, not_equals, contains, not_contains, empty, not_empty, "
        "greater, greater_or_equal, less, less_or_equal, is_true, is_false); the first arm "
        "whose conditions hold runs its steps, else the “otherwise” steps.")
    example = {"branches": [{"name": "archived", "mode": "all",
                             "conditions": [{"left": "{{ steps.archive.status }}",
                                             "operator": "is_true"}],
                             "steps": []}],
               "otherwise": ["fail"]}
    Config = BranchConfig

    @classmethod
    def arms(cls, config):
        """The step keys each arm names; anything but a list of texts names nothing (the
        settings check reports it)."""
        def keys(value):
            return [k for k in value if isinstance(k, str)] if isinstance(value, list) else []

        branches = config.get("branches") if isinstance(config, dict) else None
        arms = {index: keys(arm.get("steps"))
                for index, arm in enumerate(branches if isinstance(branches, list) else [])
                if isinstance(arm, dict)}
        arms[OTHERWISE] = keys(config.get("otherwise")) if isinstance(config, dict) else []
        return arms

    def run(self, settings, runtime):
        # Conditions arrive evaluated: left/right are values now, not templates.
        for index, arm in enumerate(settings["branches"]):
            results = [compare(c.get("left"), c.get("operator"), c.get("right"))
                       for c in arm["conditions"]]
            taken = all(results) if arm.get("mode", "all") == "all" else any(results)
            if taken:
                return StepResult(output={"arm": index, "branch": arm["name"]}, arm=index)
        return StepResult(output={"arm": OTHERWISE, "branch": _("otherwise")}, arm=OTHERWISE)
