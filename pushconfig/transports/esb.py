"""ESB: each push runs an action flow (ESB动作流) with the todo as its input, and the flow's
outcome is the push's outcome — an output step failing with a message fails the push with
that message.

The flow must be enabled and "called". Its input is the push item: `request_id`, `title`,
`data_set`, `business_status`, `receiver` (mapped), `receiver_login`, `creator`, `node_name`,
`workflow_id`, `workflow_name`, `created_at`, `occurred_at`, `viewed`, the three URLs and
`idempotency_key` (the same on every retry of the record: hand it on to the systems the flow
calls so they can drop repeats).

Delivery is at least once without running the flow twice at the same time: a retry of a record
whose earlier run succeeded reports that success instead of running again; one whose earlier
run is still going (it outlasted the time limit and continues on a worker) is retried later.
A run failed by an output step is a permanent failure (the flow decided); a run failed by any
other step is transient, so the push is retried with backoff like a target that is down.
The server URL is not called; it only labels the config.
"""
from dataclasses import asdict

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from . import register
from .base import Delivery, Transport, TransportError

STILL_RUNNING_RETRY = 30.0  # seconds


class EsbParams(serializers.Serializer):
    flow = serializers.CharField(
        max_length=100, label="flow",
        help_text=gettext_lazy("The name of the action flow to run (trigger “called”)."))
    timeout = serializers.IntegerField(
        min_value=1, max_value=300, default=30, label="timeout",
        help_text=gettext_lazy("Seconds a push waits for the flow; a run still going then "
                               "finishes on a worker and the push is retried later."))

    def validate_flow(self, value):
        from actionflow.models import ActionFlow

        flow = ActionFlow.objects.filter(name=value).first()
        if flow is None:
            raise serializers.ValidationError(_("There is no action flow named “%(name)s”.")
                                              % {"name": value})
        if flow.trigger != ActionFlow.Trigger.CALLED:
            raise serializers.ValidationError(
                _("“%(name)s” is not a called flow; choose one whose trigger is “called”.")
                % {"name": value})
        return value


@register
class EsbTransport(Transport):
    key = "esb"
    label = gettext_lazy("ESB (action flow)")
    implementation = "WPushToESB"
    Params = EsbParams
    suite_params = ("flow",)
    batch_size = 20

    def flow(self):
        from actionflow.models import ActionFlow

        flow = ActionFlow.objects.filter(name=self.params["flow"]).first()
        if flow is None or not flow.enabled or flow.trigger != ActionFlow.Trigger.CALLED:
            # Transient: an administrator fixing or re-enabling the flow lets the backlog go.
            raise TransportError(_("The action flow “%(name)s” is missing, disabled or not "
                                   "a called flow.") % {"name": self.params["flow"]})
        if flow.current_version() is None:
            raise TransportError(_("The action flow “%(name)s” has no saved version yet.")
                                 % {"name": flow.name})
        return flow

    def send_one(self, item):
        from actionflow import engine
        from actionflow.models import FlowRun

        data = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in asdict(item).items()}
        self.last_request = {"flow": self.params["flow"], "input": data}
        earlier = FlowRun.objects.filter(push_record_id=item.record_id).order_by("-id").first()
        if earlier is not None and earlier.status == FlowRun.Status.SUCCESS:
            return Delivery(True, response=_("Run #%(run)d succeeded already: %(message)s")
                            % {"run": earlier.pk, "message": earlier.message})
        if earlier is not None and not earlier.finished:
            raise TransportError(_("Run #%(run)d of this push is still going.")
                                 % {"run": earlier.pk}, retry_after=STILL_RUNNING_RETRY)
        flow = self.flow()
        run = engine.run_now(flow, FlowRun.Trigger.ESB, data, timeout=self.params["timeout"],
                             push_record_id=item.record_id)
        answer = _("Run #%(run)d: %(message)s") % {"run": run.pk, "message": run.message or "-"}
        if run.status == FlowRun.Status.SUCCESS:
            return Delivery(True, response=answer)
        if run.status == FlowRun.Status.FAILED:
            decided = run.failed_step and run.steps.filter(key=run.failed_step,
                                                           kind="output").exists()
            raise TransportError(run.message or _("The flow failed."), permanent=bool(decided),
                                 response=answer)
        raise TransportError(_("Run #%(run)d did not finish within %(n)d seconds; it goes on "
                               "on a worker.") % {"run": run.pk, "n": self.params["timeout"]},
                             response=answer, retry_after=STILL_RUNNING_RETRY)

    def test_connection(self):
        def call():
            flow = self.flow()
            return Delivery(True, response=_("“%(name)s” version %(version)d is ready.")
                            % {"name": flow.name, "version": flow.version})

        return self.deliver(call)
