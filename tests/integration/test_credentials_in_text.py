"""Addresses in reasons, logs and lists: credentials masked, everything else kept as it was."""
import pytest

from integration.http import without_credentials
from integration.secrets import MASK


@pytest.mark.parametrize("text, hidden, kept", [
    ("http://ops:pa55word@oa.example/x", ["pa55word"], ["http://ops:", "@oa.example/x"]),
    ("https://api:Pa@ssw0rd!x@erp/x", ["Pa@", "ssw0rd"], ["https://api:", "@erp/x"]),
    ("Cannot connect to http://h/x?access_token=abc,def&n=1: refused", ["abc", "def"],
     ["&n=1: refused"]),
    ("http://h/x?x-api-key=k1#sign=s1&accessToken=t1&app_secret=s2", ["k1", "s1", "t1", "s2"],
     []),
    ("http://h/?assignee=zhangsan&designId=42&author=li&keyword=k&monkey=m", [],
     ["assignee=zhangsan&designId=42&author=li&keyword=k&monkey=m"]),
    ("http://oa.example:8080/rest?flowid=12", [], ["http://oa.example:8080/rest?flowid=12"]),
])
def test_it_masks_credentials_and_keeps_the_rest(text, hidden, kept):
    shown = without_credentials(text)
    assert not any(secret in shown for secret in hidden), shown
    assert all(part in shown for part in kept), shown
    assert (MASK in shown) == bool(hidden)


def test_it_reads_a_long_text_in_one_pass():
    # a target's refusal is its own text, of any length; a backtracking pattern took seconds
    text = "The target refused: ?" + "key" * 100_000
    assert without_credentials(text) == text
