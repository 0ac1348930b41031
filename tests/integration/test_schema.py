"""The OpenAPI schema documents every endpoint without a warning."""
import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/v1/todo-events/", "/api/v1/push-configs/", "/api/v1/push-logs/",
                 "/api/v1/push-tasks/", "/api/v1/push-addresses/", "/api/v1/action-flows/",
                 "/api/v1/flow-runs/", "/api/v1/actions/", "/api/v1/flow-templates/",
                 "/api/v1/archive-schemes/", "/api/v1/archive-logs/",
                 "/api/v1/archive-targets/"):
        assert path.rstrip("/") in text


def test_it_documents_the_api_in_the_asked_language(client, admin):
    client.force_login(admin)
    r = client.get("/api/schema/", {"lang": "zh-hans", "format": "json"})
    assert r.status_code == 200
    text = r.content.decode()
    assert "要预览的 cron 表达式" in text and "A cron expression to preview" not in text
    english = client.get("/api/schema/", {"lang": "en", "format": "json"}).content.decode()
    assert "A cron expression to preview" in english
