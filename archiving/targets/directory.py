"""`directory`: the package written as a file under a base directory (a share the archive
system reads, a mounted volume).

The file is `<base>/<scheme id>/<request id>-<yyyyMMddHHmmssSSS>.zip`. It is written atomically:
a hidden temporary file in the same directory, flushed and fsync'ed, then renamed over the final
name with os.replace and the directory fsync'ed, so a reader never sees half a package and a
crash leaves at most a `.part` file. The base directory must exist (a typo is refused, not
created); the scheme's folder is created. A request id that is not a plain file name, or a
path that resolves outside the base (`..`, a symbolic link pointing elsewhere), is refused.
Permission and path problems are permanent; others (a full disk, an unreachable share) are
transient.
"""
import errno
import os
import tempfile

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from ..package import stamp
from .base import Delivery, TargetError, TargetKind, register

PERMANENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR,
                    errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL}


class DirectoryParams(serializers.Serializer):
    base_dir = serializers.CharField(
        label=gettext_lazy("base directory"), max_length=500,
        help_text=gettext_lazy("An absolute path on the worker machines, e.g. "
                               "/srv/archive. It must exist; each scheme gets a folder in it."))

    def validate_base_dir(self, value):
        value = value.strip()
        if "\x00" in value:
            raise serializers.ValidationError(_("Null characters are not allowed."))
        if not os.path.isabs(value):
            raise serializers.ValidationError(_("Use an absolute path."))
        return os.path.normpath(value)


def inside(path, base):
    """Whether `path`, symbolic links resolved, lies within `base` (also resolved)."""
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    return os.path.commonpath([real, real_base]) == real_base


def _safe_name(text):
    return bool(text) and text not in (".", "..") and not any(
        sep in text for sep in ("/", "\\", "\x00", os.sep))


def _os_error(exc, what):
    return TargetError(_("Cannot write %(path)s: %(error)s")
                       % {"path": what, "error": exc.strerror or exc},
                       permanent=exc.errno in PERMANENT_ERRNOS)


def write_atomically(directory, name, content):
    """Write `content` as directory/name: temporary file, fsync, rename, fsync of the folder."""
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        final = os.path.join(directory, name)
        os.replace(temp, final)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    try:
        folder = os.open(directory, os.O_RDONLY)
    except OSError:
        return final  # some file systems cannot open a directory; the rename stands
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)
    return final


@register
class DirectoryTarget(TargetKind):
    key = "directory"
    label = gettext_lazy("Directory (zip files)")
    description = gettext_lazy("Writes the package under a base directory.")
    Params = DirectoryParams

    @property
    def base(self):
        return self.params["base_dir"]

    def check_base(self):
        if not os.path.isdir(self.base):
            raise TargetError(_("The base directory %(path)s does not exist.")
                              % {"path": self.base}, permanent=True)

    def deliver(self, package, idempotency_key=""):
        self.check_base()
        request_id = package.request_id
        if not _safe_name(request_id):
            raise TargetError(_("The request id “%(id)s” cannot be used as a file name.")
                              % {"id": request_id}, permanent=True)
        folder = os.path.join(self.base, str(package.scheme_id))
        name = f"{request_id}-{stamp(package.exported_at)}.zip"
        final = os.path.join(folder, name)
        if not inside(final, self.base):
            raise TargetError(_("%(path)s lies outside the base directory; refused.")
                              % {"path": final}, permanent=True)
        try:
            os.makedirs(folder, exist_ok=True)
            # Checked again once the folder exists: a link created in between is caught here.
            if not inside(folder, self.base):
                raise TargetError(_("%(path)s lies outside the base directory; refused.")
                                  % {"path": folder}, permanent=True)
            written = write_atomically(folder, name, package.content)
        except OSError as exc:
            raise _os_error(exc, final) from None
        return Delivery(True, _("Written to %(path)s.") % {"path": written},
                        answer=written, location=written)

    def test_connection(self):
        """The base directory exists and takes a file: a probe is written atomically and
        removed."""
        self.check_base()
        try:
            probe = write_atomically(self.base, ".console-probe", b"probe\n")
            os.unlink(probe)
        except OSError as exc:
            raise _os_error(exc, self.base) from None
        return Delivery(True, _("The base directory %(path)s is writable.") % {"path": self.base},
                        answer=self.base, location=self.base)
