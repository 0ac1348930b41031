"""The archive package: one zip per (scheme, request) export, the same bytes for the same data.

Layout, in this order:

- `metadata.json` — the scheme's mapped metadata under "metadata", then what the package is
  about: "scheme" (id as text, name), "request" (id, title, creator, status), "workflow"
  (id, name), "moment" (the scheme's node and before/after, the trigger), "source" (whose
  data: the triggering event's snapshot or the request's current data, and as of when),
  "exported_at", "contents" (the files of the zip) and "format";
- `form_data.json` — the form data exported;
- `sign_opinions.json` — the sign opinions, only when the scheme includes them;
- `attachments.json` — the attachments' metadata found in the form data (below).

Determinism: JSON objects are written with sorted keys (PostgreSQL's jsonb does not keep key
order, so the order received cannot be relied on), lists keep their order (sign opinions in
signing order), UTF-8 without escapes, two-space indent; zip entries have fixed names, order,
permissions and a timestamp taken from the export time. The SHA-256 and size of the zip are
recorded in the archive log and sent to the target.

Attachments convention: the console does not download files; it lists what the form says
about them, so the archive system can fetch them. Anywhere in the form data (nested objects
and lists included, e.g. a detail table's rows), an object with a file name — `name`,
`fileName`, `file_name` or `filename` — and a link — `url`, `fileUrl`, `file_url`,
`downloadUrl` or `download_url` — is an attachment. A form value that is a list of such objects
(`"附件": [{"name": "a.pdf", "url": "https://…", "size": 1024}]`) is the usual shape. Each one is
listed with the path of the form field holding it (`附件[0]`, `明细[1].附件[0]`), its name,
url, size in bytes (`size`, `fileSize` or `file_size`; null when absent or not a number) and
id (`id`, `fileId` or `file_id`; null when absent), in the order the walk meets them (keys
sorted, list positions in order).
"""
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from .mapping import apply_mapping

FORMAT = "oa-console-archive/1"
NAME_KEYS = ("name", "fileName", "file_name", "filename")
URL_KEYS = ("url", "fileUrl", "file_url", "downloadUrl", "download_url")
SIZE_KEYS = ("size", "fileSize", "file_size")
ID_KEYS = ("id", "fileId", "file_id")
SOURCE_EVENT, SOURCE_CURRENT = "event_snapshot", "current"


class PackageError(Exception):
    """The data cannot make a package (a required form field is empty): not worth retrying
    until the data changes."""


@dataclass
class ExportData:
    """What one export is made of: the scheme, the request's identity, and the form data and
    sign opinions of the chosen source (see archiving.service for which source when)."""

    scheme_id: int
    scheme_name: str
    mapping: list
    include_sign_opinions: bool
    node_name: str
    moment: str
    trigger: str
    request_id: str
    request_title: str
    creator: str
    request_status: str
    workflow_id: str
    workflow_name: str
    form_data: dict
    sign_opinions: list
    source: str
    source_event_id: str = ""
    as_of: str = ""
    exported_at: datetime = field(default_factory=timezone.now)


@dataclass
class Package:
    file_name: str
    content: bytes
    checksum: str
    size: int
    scheme_id: int
    request_id: str
    workflow_id: str
    exported_at: datetime
    exported: dict   # the data as exported: every JSON document of the zip by file name


def stamp(moment: datetime) -> str:
    """yyyyMMddHHmmssSSS in the console's time zone: sortable and safe in file names."""
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%S%f")[:-3]


def find_attachments(form_data):
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            name = next((value[k] for k in NAME_KEYS if isinstance(value.get(k), str)), None)
            url = next((value[k] for k in URL_KEYS if isinstance(value.get(k), str)), None)
            if name and url:
                size = next((value[k] for k in SIZE_KEYS if k in value), None)
                if isinstance(size, str) and size.strip().isdigit():
                    size = int(size)
                if isinstance(size, bool) or not isinstance(size, int):
                    size = None
                ident = next((value[k] for k in ID_KEYS if value.get(k) not in (None, "")), None)
                found.append({"field": path, "name": name, "url": url, "size": size,
                              "id": None if ident is None else str(ident)})
                return
            for key in sorted(value):
                walk(value[key], f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(form_data if isinstance(form_data, dict) else {}, "")
    return found


def _json(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def build(data: ExportData) -> Package:
    metadata, missing = apply_mapping(data.mapping, data.form_data)
    if missing:
        raise PackageError(", ".join(missing))
    files = {"metadata.json": None, "form_data.json": data.form_data}
    if data.include_sign_opinions:
        files["sign_opinions.json"] = data.sign_opinions
    files["attachments.json"] = find_attachments(data.form_data)
    files["metadata.json"] = {
        "format": FORMAT,
        "metadata": metadata,
        "scheme": {"id": str(data.scheme_id), "name": data.scheme_name},
        "request": {"request_id": data.request_id, "title": data.request_title,
                    "creator": data.creator, "status": data.request_status},
        "workflow": {"workflow_id": data.workflow_id, "name": data.workflow_name},
        "moment": {"node_name": data.node_name, "moment": data.moment, "trigger": data.trigger},
        "source": {"kind": data.source, "event_id": data.source_event_id or None,
                   "as_of": data.as_of or None},
        "exported_at": data.exported_at.isoformat(),
        "contents": list(files),
    }
    when = timezone.localtime(data.exported_at)
    # Zip timestamps start in 1980; the export time is always later.
    date_time = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in files.items():
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, _json(value))
    content = buffer.getvalue()
    return Package(
        file_name=f"{data.request_id}-{stamp(data.exported_at)}.zip", content=content,
        checksum=hashlib.sha256(content).hexdigest(), size=len(content),
        scheme_id=data.scheme_id, request_id=data.request_id, workflow_id=data.workflow_id,
        exported_at=data.exported_at, exported=files,
    )
