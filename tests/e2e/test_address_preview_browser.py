"""An administrator builds a push address in the browser — redirect to an SSO page, ordered
parameters, the demo's push config bound for its PC and app addresses — then previews it for a
request and an operator and sees the three addresses a push would carry."""
from urllib.parse import parse_qsl, urlsplit

import pytest

from .conftest import ARTIFACTS, DEMO_PASSWORD

pytestmark = pytest.mark.e2e

PREFIX = "https://sso.example.com/jump"


def add_parameter_row(page, n, name, kind, value="", source=""):
    """Fill parameter row n, adding it first when the inline shows fewer rows."""
    if page.locator(f"#id_parameters-{n}-name").count() == 0:
        page.click("#parameters-group .add-row a")
    page.fill(f"#id_parameters-{n}-position", str(n))
    if name:
        page.fill(f"#id_parameters-{n}-name", name)
    page.select_option(f"#id_parameters-{n}-kind", kind)
    if value:
        page.fill(f"#id_parameters-{n}-value", value)
    if source:
        page.select_option(f"#id_parameters-{n}-source", source)


def test_it_builds_an_address_and_previews_the_three_addresses(console, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{console.base_url}/admin/login/?next=/admin/pushconfig/pushaddress/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url("**/admin/pushconfig/pushaddress/**", timeout=30_000)

        # The cloud bridge's keys, kept once for the console (the list opens its one form).
        page.goto(f"{console.base_url}/admin/pushconfig/cloudbridgeconfig/")
        page.fill("#id_agent_key", "905296088639315968")
        page.fill("#id_corp_key", "877800227655229441")
        page.fill("#id_tenant_key", "t4dvwhryc8")
        page.click("input[name=_save]")
        page.wait_for_url("**/admin/", timeout=30_000)

        # Create the address with its parameters and binding, as an administrator would.
        page.goto(f"{console.base_url}/admin/pushconfig/pushaddress/add/")
        page.check("#id_enabled")
        page.fill("#id_name", "浏览器单点登录")
        page.check("#id_redirect")
        page.fill("#id_prefix", PREFIX)
        add_parameter_row(page, 0, "appid", "fixed", value="门户 & OA")
        add_parameter_row(page, 1, "rid", "system", source="request_id")
        add_parameter_row(page, 2, "", "cloud_bridge", source="agent_key")
        add_parameter_row(page, 3, "target", "system", source="encoded_url")
        page.select_option("#id_bindings-0-config", label="沙箱演示 (sandbox-demo)")
        page.check("#id_bindings-0-pc")
        page.check("#id_bindings-0-app")
        page.click("input[name=_save]")
        page.wait_for_url("**/admin/pushconfig/pushaddress/", timeout=30_000)
        table = page.inner_text("#result_list")
        assert "浏览器单点登录" in table and "沙箱演示 (sandbox-demo)" in table

        # The row action opens the preview; a request id and an operator show the addresses.
        page.click("#result_list a[href$='/preview/']")
        page.wait_for_selector("#id_request_id")
        page.fill("#id_request_id", "4242")
        page.fill("#id_operator", "zhangwei")
        page.click("input[name=_preview]")
        page.wait_for_selector("#address-preview")

        urls = page.locator("#address-preview code.address-preview-url").all_inner_texts()
        assert len(urls) == 3, page.inner_text("#content-main")
        pc_url, app_url, adaptive_url = urls
        for url in (pc_url, app_url):
            assert url.startswith(PREFIX + "?appid=")
            query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
            assert [name for name, _value in query] == [
                "appid", "rid", "wea_link_keep_ebAgentKey", "target"]
            assert query[0] == ("appid", "门户 & OA")
            assert query[1] == ("rid", "4242")
            assert query[2] == ("wea_link_keep_ebAgentKey", "905296088639315968")
            assert "requestid=4242" in query[3][1] and not query[3][1].startswith(PREFIX)
        assert dict(parse_qsl(urlsplit(pc_url).query))["target"] != dict(
            parse_qsl(urlsplit(app_url).query))["target"]      # each kind's own original link
        assert not adaptive_url.startswith(PREFIX)               # unbound: the OA's own link
        assert "requestid=4242" in adaptive_url
        shown = page.inner_text("#address-preview").lower()   # the admin's CSS capitalises
        assert "沙箱演示 (sandbox-demo)" in shown
        assert "not set" not in shown                            # every value is configured

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "address-preview.png"), full_page=True)

        # A request id that is not digits is refused on the same page.
        page.fill("#id_request_id", "42a")
        page.click("input[name=_preview]")
        page.wait_for_selector(".errorlist")
        assert page.locator("#address-preview").count() == 0
    finally:
        context.close()
