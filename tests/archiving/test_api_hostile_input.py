"""Text PostgreSQL cannot take as a query parameter (a NUL character, a lone surrogate) in the
workflow an archive scheme names: a 400 naming the field before the lookup, never a 500."""
import json

import pytest

from archiving.models import ArchiveScheme

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("workflow", "message"), [
    ("wf\x00", "Null characters are not allowed."),
    ("\ud800", "Text holds an unpaired surrogate character."),
])
def test_a_scheme_refuses_a_workflow_it_cannot_look_up(api, workflow, message):
    r = api.post("/api/v1/archive-schemes/", json.dumps({"name": "归档", "workflow": workflow}),
                 content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 400, r.content
    assert r.json()["workflow"] == [message]
    assert not ArchiveScheme.objects.exists()
