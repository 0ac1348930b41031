"""The platform's signature: Java's String.CASE_INSENSITIVE_ORDER, concatenation, MD5.

Expected strings are written out by hand and then hashed here, so these tests pin the rule
itself, not just whatever the code does. The orders below were checked against OpenJDK
(TreeMap / List.sort with String.CASE_INSENSITIVE_ORDER), except where a comment says the
UTF-16 rule of the documented platform differs from newer JDKs.
"""
import hashlib

import pytest

from integration.hooks.signature import (
    ambiguous_keys, compute_sign, java_compare_ignore_case, sign_matches, signing_string,
    sort_keys,
)

TOKEN = "SYSTEM-TOKEN-0123456789-abcd"


def md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# The seed's sample task JSON, verbatim (its missing comma after "instValue" included: for the
# signature it is just text).
SEED_TASK = (
    r'{  "actionerId": null,  "actionerName": null,  "appType": "APP_RY60OCRF33Z7534**'
    r'*",  "createTime": 1693462062502,  "currentActivityInstances": null,  "dataMap":'
    r' {    "cascadeDateField_l4sbkqco": null,    "selectField_l523dlqi_value": null, '
    r'   "selectField_l523dlqi_value_en_us": null,    "multiSelectField_l523dlqk": nul'
    r'l,    "numberField_l4s57vma": "1",    "selectField_l523dlqi": null,    "imageFie'
    r'ld_llyrklcy": "**",    "textareaField_l4s57vmf": "",    "textField_l4s57vm9": ""'
    r',    "tableField_l4s57vmb": "[{\"numberField_li9yr6gs\":\"\",\"textField_l4s57vm'
    r'c\":\"\",\"textField_l4s57vmd\":\"\",\"textField_l51tzkqs\":\"\"}]"  },  "dataTy'
    r'pe": "pinst",  "deep3": true,  "finishTime": null,  "formInstanceId": "65ab8549-'
    r'aa06-486a-b5b7-8abe845303a5",  "formUuid": "FORM-MT866EA1X3N9W79GDQM2HB400M413OS'
    r'76A2GL51",  "instValue": "***"  "modifiedTime": 1693462062502,  "modifyUserAvata'
    r'r": "",  "modifyUserDisplayName": "",  "modifyUserId": "01690741902689",  "openA'
    r'vatar": "",  "openId": "",  "openNickname": "",  "openSource": "",  "originatorA'
    r'vatar": "https://static.dingtalk.com/media/lALPDfJ6d8zhRL_NAbjNAbg_440_440.png",'
    r'  "originatorCorpId": "ding5d17e3add038d44535c2f4657eb6378f",  "originatorCorpNa'
    r'me": "",  "originatorDisplayName": "张红",  "originatorId": "01690741902689",  "pr'
    r'ocessApprovedResult": "",  "processApprovedResultText": "",  "processCode": "TPR'
    r'OC--9BC6687125N9XAJ8873I0864QY122BZ96A2GL1",  "processId": 0,  "processInstanceI'
    r'd": "",  "processInstanceStatus": "",  "processInstanceStatusText": "",  "proces'
    r'sName": "",  "serialNo": "",  "title": "**的1位访客申请",  "version": 10}'
)


def test_it_keeps_the_seed_sample_verbatim():
    assert SEED_TASK.startswith('{  "actionerId": null,') and SEED_TASK.endswith('"version": 10}')
    assert len(SEED_TASK) == 1587


def test_it_orders_underscore_before_letters_like_java():
    assert sort_keys(["bKey", "a_key", "b_key", "Akey"]) == ["a_key", "Akey", "b_key", "bKey"]


def test_it_differs_from_sorting_by_upper_or_lower_case_or_code_points():
    keys = ["bKey", "a_key", "b_key", "Akey"]
    java = ["a_key", "Akey", "b_key", "bKey"]
    assert sorted(keys, key=str.upper) != java   # "_" (95) after "K" (75)
    assert sorted(keys) != java                  # "A" before "a"
    assert sorted(keys, key=str.lower) == java   # agrees here, but not below
    assert sort_keys(["t", "\u017f"]) == ["\u017f", "t"]               # ſ → S → s, before t
    assert sorted(["t", "\u017f"], key=str.lower) == ["t", "\u017f"]   # ſ.lower() is ſ (383)
    assert sorted(["t", "\u017f"], key=str.casefold) == ["\u017f", "t"]
    assert sorted(["\u00df", "st"], key=str.casefold) == ["\u00df", "st"]  # ß → "ss" < "st"
    assert sort_keys(["\u00df", "st"]) == ["st", "\u00df"]             # Java keeps ß (223)


def test_it_orders_the_finish_parameters_like_java():
    keys = ["formInstId", "actualWorkId", "taskId", "corpId", "appType", "dateTime"]
    assert sort_keys(keys) == ["actualWorkId", "appType", "corpId", "dateTime", "formInstId",
                               "taskId"]


def test_it_orders_a_mixed_alphabet_like_java():
    keys = ["Z", "_", "a", "A_", "a_", "Ab", "\u00df", "SS", "s", "\u017f", "t", "\u0130", "i",
            "j", "\u212a", "k", "L", "\uff5a", "\u4e2d"]
    # OpenJDK 17: _ a A_ a_ Ab İ i j K k L s ſ SS t Z ß 中 ｚ (ties keep their given order)
    assert sort_keys(keys) == ["_", "a", "A_", "a_", "Ab", "\u0130", "i", "j", "\u212a", "k", "L",
                               "s", "\u017f", "SS", "t", "Z", "\u00df", "\u4e2d", "\uff5a"]


def test_it_compares_utf16_code_units_not_code_points():
    # U+1F600 is the surrogate pair D83D DE00: before U+FF5A by code unit (Java 8), after it
    # by code point (what Java 16+ does). The documented platform follows the code-unit rule.
    assert java_compare_ignore_case("\U0001F600", "\uff5a") < 0
    assert sort_keys(["\uff5a", "\U0001F600", "\u4e2d"]) == ["\u4e2d", "\U0001F600", "\uff5a"]


def test_it_maps_case_one_character_at_a_time():
    assert java_compare_ignore_case("\u00df", "SS") == 108        # as Java: ß stays ß, no "SS"
    assert java_compare_ignore_case("\u017f", "s") == 0            # ſ upper-cases to S
    assert java_compare_ignore_case("\u212a", "k") == 0            # Kelvin sign lower-cases to k
    assert java_compare_ignore_case("\u0130", "i") == 0            # İ lower-cases to i
    assert java_compare_ignore_case("\u1f80", "\u1f88") == 0       # simple, not full, mapping
    assert java_compare_ignore_case("ab", "ABC") < 0               # a shorter prefix first
    assert java_compare_ignore_case("TaskId", "taskid") == 0


def test_it_finds_keys_that_java_would_merge():
    assert ambiguous_keys(["taskId", "dateTime", "TASKID"]) == [["taskId", "TASKID"]]
    assert ambiguous_keys(["s", "\u017f", "x"]) == [["s", "\u017f"]]
    assert ambiguous_keys(["a_key", "Akey", "b_key", "bKey"]) == []


def test_it_signs_a_finish_callback_with_mixed_case_keys():
    params = {"formInstId": "65ab8549-aa06", "actualWorkId": "01690741902689",
              "taskId": "T-9", "corpId": "ding5d17e3add038d44535c2f4657eb6378f",
              "appType": "APP_RY60OCRF33Z7534", "dateTime": "1693462070000"}
    expected = ("01690741902689" "APP_RY60OCRF33Z7534" "ding5d17e3add038d44535c2f4657eb6378f"
                "1693462070000" "65ab8549-aa06" "T-9" + TOKEN)
    assert signing_string(params, TOKEN) == expected
    assert compute_sign(params, TOKEN) == md5(expected)
    assert compute_sign({**params, "sign": "whatever"}, TOKEN) == md5(expected)  # sign excluded


def test_it_signs_keys_with_underscores_and_chinese_values():
    params = {"bKey": "四", "b_key": "三", "Akey": "二", "a_key": "值一"}
    expected = "值一二三四令牌-密钥"
    assert signing_string(params, "令牌-密钥") == expected
    assert compute_sign(params, "令牌-密钥") == md5(expected)
    assert compute_sign(params, "令牌-密钥") == hashlib.md5(
        b"\xe5\x80\xbc\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89\xe5\x9b\x9b"
        b"\xe4\xbb\xa4\xe7\x89\x8c-\xe5\xaf\x86\xe9\x92\xa5").hexdigest()  # UTF-8, not GBK


def test_it_signs_the_seed_sample_create_callback():
    params = {"task": SEED_TASK, "dateTime": "1693462062600"}
    expected = "1693462062600" + SEED_TASK + TOKEN      # dateTime < task
    assert signing_string(params, TOKEN) == expected
    assert compute_sign(params, TOKEN) == md5(expected) == "ca2961f2b67dae1c8a9dfeecd2ed27f9"


def test_it_accepts_lower_or_upper_case_hex_and_nothing_else():
    params = {"dateTime": "1693462062600", "task": "{}"}
    good = md5("1693462062600{}" + TOKEN)
    assert sign_matches(params, TOKEN, good)
    assert sign_matches(params, TOKEN, good.upper())
    assert not sign_matches(params, TOKEN, good[:-1])
    assert not sign_matches(params, TOKEN, good + "0")
    assert not sign_matches(params, TOKEN, md5("{}1693462062600" + TOKEN))  # wrong order
    assert not sign_matches(params, "other-token", good)
    assert not sign_matches(params, TOKEN, "签名" * 16)


@pytest.mark.parametrize("a,b", [("a_key", "Akey"), ("Akey", "b_key"), ("b_key", "bKey"),
                                 ("appType", "corpId"), ("dateTime", "task")])
def test_it_is_antisymmetric(a, b):
    assert java_compare_ignore_case(a, b) < 0 < java_compare_ignore_case(b, a)
