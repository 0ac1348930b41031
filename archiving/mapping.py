"""A scheme's field mapping: which form fields become which archive metadata.

The mapping is a JSON list of entries, in the order the metadata is written:

    [{"form_field": "title", "metadata_key": "题名", "required": true},
     {"form_field": "applicant.dept", "metadata_key": "部门"}]

`form_field` names a key of the request's form data; a dotted path reaches into nested
objects ("applicant.dept"), and a key that itself holds a dot is found first. `metadata_key`
is the archive system's name for it, unique within the scheme. `required` (default false)
makes an export fail, naming the field, when the form data has no value for it; an optional
field with no value is written as null, so every package of a scheme has the same keys.
One validator serves the model (admin) and the API serializer alike.
"""
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_ENTRIES = 200
MAX_NAME = 200
_KEYS = {"form_field", "metadata_key", "required"}
_MISSING = object()


def validate_mapping(value):
    """The mapping normalised (keys trimmed, `required` always present), or a ValidationError
    whose messages name the entry and the key at fault."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ValidationError(_("Use a JSON list of objects with “form_field” and "
                                "“metadata_key”."))
    if len(value) > MAX_ENTRIES:
        raise ValidationError(_("At most %(max)d entries.") % {"max": MAX_ENTRIES})
    errors, cleaned, keys = [], [], set()
    for number, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            errors.append(_("Entry %(n)d: use an object.") % {"n": number})
            continue
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            errors.append(_("Entry %(n)d: unknown key(s) %(keys)s; use form_field, "
                            "metadata_key and required.") % {"n": number,
                                                            "keys": ", ".join(unknown)})
        names = {}
        for key in ("form_field", "metadata_key"):
            text = entry.get(key)
            if not isinstance(text, str) or not text.strip():
                errors.append(_("Entry %(n)d: “%(key)s” is required text.")
                              % {"n": number, "key": key})
            elif len(text.strip()) > MAX_NAME or not _clean_text(text):
                errors.append(_("Entry %(n)d: “%(key)s” must be at most %(max)d characters "
                                "of valid text.")
                              % {"n": number, "key": key, "max": MAX_NAME})
            else:
                names[key] = text.strip()
        required = entry.get("required", False)
        if not isinstance(required, bool):
            errors.append(_("Entry %(n)d: “required” must be true or false.") % {"n": number})
        if "metadata_key" in names:
            if names["metadata_key"] in keys:
                errors.append(_("Entry %(n)d: metadata key “%(key)s” is used twice.")
                              % {"n": number, "key": names["metadata_key"]})
            keys.add(names["metadata_key"])
        if len(names) == 2:
            cleaned.append({"form_field": names["form_field"],
                            "metadata_key": names["metadata_key"],
                            "required": required is True})
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_text(text):
    """No NUL characters nor lone surrogates: PostgreSQL stores neither."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lookup(form_data, path):
    """The value of a form field by name or dotted path, or _MISSING."""
    if not isinstance(form_data, dict):
        return _MISSING
    if path in form_data:
        return form_data[path]
    current = form_data
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def is_blank(value):
    return value is _MISSING or value is None or (isinstance(value, str) and not value.strip())


def apply_mapping(mapping, form_data):
    """(metadata, missing): the metadata in mapping order, and the required form fields that
    have no value."""
    metadata, missing = {}, []
    for entry in mapping or []:
        value = lookup(form_data, entry["form_field"])
        if is_blank(value) and entry.get("required"):
            missing.append(entry["form_field"])
        metadata[entry["metadata_key"]] = None if value is _MISSING else value
    return metadata, missing
