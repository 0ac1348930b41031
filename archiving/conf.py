"""Archiving's settings, read from the environment once and strictly (a malformed value stops
the start-up naming the variable), like config.settings does for the rest of the console.
A Django setting of the same name wins, so tests and deployments can override either way."""
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int

_DEFAULTS = {
    # How often beat re-enqueues archive jobs that no worker took (broker down, worker died).
    "ARCHIVE_SWEEP_SECONDS": env_int("ARCHIVE_SWEEP_SECONDS", 60, minimum=1, maximum=3600),
    # How long a worker may hold a job before the sweeper deems it dead and hands it on; at
    # least one upload's connect + read timeout (check_lease).
    "ARCHIVE_JOB_LEASE_SECONDS": env_int("ARCHIVE_JOB_LEASE_SECONDS", 600, minimum=10,
                                         maximum=86400),
    # Automatic ("moment") archiving retries transient failures up to this many attempts in
    # all, the first retry after the base delay, doubling, at most 30 minutes apart.
    "ARCHIVE_MAX_ATTEMPTS": env_int("ARCHIVE_MAX_ATTEMPTS", 5, minimum=1, maximum=50),
    "ARCHIVE_RETRY_BASE_SECONDS": env_int("ARCHIVE_RETRY_BASE_SECONDS", 30, minimum=1,
                                          maximum=1800),
    # Finished jobs (archived, or failed for good) are deleted by a nightly beat task this many
    # days after they finished: the log keeps the outcome, the job only the snapshot it sent.
    "ARCHIVE_JOB_KEEP_DAYS": env_int("ARCHIVE_JOB_KEEP_DAYS", 30, minimum=1, maximum=3650),
    # The Action intias_wf runs inside a flow step: it retries a transient failure this many
    # more times, waiting 1 s, then 2 s, … before answering status false.
    "ARCHIVE_ACTION_RETRIES": env_int("ARCHIVE_ACTION_RETRIES", 2, minimum=0, maximum=5),
    "ARCHIVE_ACTION_RETRY_SECONDS": env_int("ARCHIVE_ACTION_RETRY_SECONDS", 1, minimum=0,
                                            maximum=30),
    # HTTP timeouts of archive uploads: connecting, and waiting for the answer (a package can
    # take a while to store).
    "ARCHIVE_CONNECT_TIMEOUT": env_int("ARCHIVE_CONNECT_TIMEOUT", 5, minimum=1, maximum=120),
    "ARCHIVE_READ_TIMEOUT": env_int("ARCHIVE_READ_TIMEOUT", 60, minimum=1, maximum=1800),
}


def get(name):
    return getattr(settings, name, _DEFAULTS[name])


def check_lease():
    """Refuse a job lease shorter than one upload may take: the sweeper would hand a job on
    while its worker still waits for the archive system, and both would send the package."""
    lease = get("ARCHIVE_JOB_LEASE_SECONDS")
    upload = get("ARCHIVE_CONNECT_TIMEOUT") + get("ARCHIVE_READ_TIMEOUT")
    if lease < upload:
        raise ImproperlyConfigured(
            f"ARCHIVE_JOB_LEASE_SECONDS={lease} is shorter than ARCHIVE_CONNECT_TIMEOUT + "
            f"ARCHIVE_READ_TIMEOUT = {upload}; set the lease to at least {upload}")
