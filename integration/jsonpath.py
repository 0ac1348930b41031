"""Dotted paths into JSON values ("data.items.0.id"), as administrators write them to say
where an answer's success flag, message or output sits (SMS gateways, push types, archive
targets, HTTP steps of action flows)."""


def lookup(data, path):
    """(found, value) at `path`: keys of objects, positions in lists (a negative position
    counts from the end). (False, None) when any part is missing."""
    value = data
    for part in str(path).split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (isinstance(value, list) and part.lstrip("-").isdigit() and part.isascii()
              and -len(value) <= int(part) < len(value)):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def dig(data, path):
    """The value at `path`, or None when it is missing."""
    return lookup(data, path)[1]
