"""Helpers shared by the test_callbacks_* modules (no tests here): a callback source, the
platform's parameters for each action, and a client that signs and posts them."""
import json
from urllib.parse import urlencode

import pytest

from integration.hooks.signature import compute_sign
from integration.models import CallbackLog, CallbackSource, InboundEvent, Request, TodoItem

TOKEN = "SYSTEM-TOKEN-0123456789-abcd"
SLUG = "yida"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# Epoch milliseconds, in order: the task is created, then handled.
T_CREATE = 1763600000000
T_CALLBACK = 1763600001000
T_FINISH = 1763600060000
T_LATER = 1763600120000


@pytest.fixture
def source(db):
    return CallbackSource.objects.create(name="宜搭审批", slug=SLUG, system_token=TOKEN,
                                         enabled=True)


def task(**overrides):
    """A task JSON of the platform (shape of the seed's sample), naming an approver."""
    value = {
        "actionerId": "lisi", "actionerName": "李四", "appType": "APP_RY60OCRF33Z7534",
        "createTime": T_CREATE, "currentActivityInstances": None,
        "dataMap": {"numberField_l4s57vma": "1", "textField_l4s57vm9": ""},
        "dataType": "pinst", "formInstanceId": "FINST-1001", "formUuid": "FORM-MT866EA1",
        "originatorCorpId": "ding5d17e3add038d44535c2f4657eb6378f",
        "originatorDisplayName": "张红", "originatorId": "zhanghong",
        "processCode": "TPROC--9BC6687125N9", "processInstanceId": "", "title": "张红的1位访客申请",
        "taskId": "TASK-1", "version": 10,
    }
    value.update(overrides)
    return value


def task_params(when=T_CALLBACK, **overrides):
    return {"task": json.dumps(task(**overrides), ensure_ascii=False), "dateTime": str(when)}


def work_params(task_id="TASK-1", worker="lisi", form_inst="FINST-1001", when=T_FINISH):
    return {"appType": "APP_RY60OCRF33Z7534", "corpId": "ding5d17e3add038d44535c2f4657eb6378f",
            "taskId": task_id, "actualWorkId": worker, "formInstId": form_inst,
            "dateTime": str(when)}


def delete_params(form_inst="FINST-1001", when=T_LATER):
    return {"appType": "APP_RY60OCRF33Z7534", "corpId": "ding5d17e3add038d44535c2f4657eb6378f",
            "formInstId": form_inst, "dateTime": str(when)}


def signed(params, token=TOKEN):
    return {**params, "sign": compute_sign(params, token)}


def encode(params, content_type):
    return json.dumps(params, ensure_ascii=False) if content_type == JSON else urlencode(params)


def post(client, action, params, content_type=FORM, slug=SLUG, token=TOKEN, sign=True, **extra):
    body = encode(signed(params, token) if sign else params, content_type)
    return client.post(f"/hooks/tasks/{slug}/{action}", body, content_type=content_type, **extra)


def post_raw(client, action, body, content_type=FORM, slug=SLUG, **extra):
    return client.post(f"/hooks/tasks/{slug}/{action}", body, content_type=content_type, **extra)


def stored_counts():
    return (CallbackLog.objects.count(), InboundEvent.objects.count(), TodoItem.objects.count(),
            Request.objects.count())


def item(receiver="lisi", request_id="FINST-1001"):
    return TodoItem.objects.select_related("request").get(request__request_id=request_id,
                                                           receiver=receiver)
