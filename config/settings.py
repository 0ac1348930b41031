"""Settings, all read from environment variables (see README, "Configuration").

Defaults run the console with no servers at all: a SQLite file and Celery's filesystem broker
under ./var. Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONSOLE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
if SECRET_KEY == _DEV_SECRET and env_bool("PRODUCTION", False):
    raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION is on")

# Keys for secrets at rest (Fernet, url-safe base64 of 32 bytes), newest first: the first key
# encrypts, every key decrypts, so keys can be rotated without a migration. When unset, a key
# is derived from SECRET_KEY, which is fine for a demo and refused in production.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS and env_bool("PRODUCTION", False):
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when PRODUCTION is on")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "integration",
    "pushconfig",
    "actionflow",
    "archiving",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'console.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, worker and beat share one file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "zh-hans", {"zh-hans", "en"})
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]  # one catalogue for the whole project
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# A bulk call of 1000 events with form data is a few MB; anything much larger is refused (400).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024, minimum=1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integration.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": ["integration.api.parsers.SafeJSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["integration.api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "integration.api.pagination.CursorIdPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "integration.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "OA integration console API",
    "DESCRIPTION": _("Event ingest, org directory sync, todo state and signed task callbacks."),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PushRecordKindEnum": "pushconfig.vocabulary.RecordKind",
        "ScopeEnum": "pushconfig.vocabulary.Scope",
        "AlertOutcomeEnum": "pushconfig.models.alerts.AlertLog.Outcome",
        "PushTaskStatusEnum": "pushconfig.models.task.TaskStatus",
        "PushOutcomeEnum": "pushconfig.vocabulary.Outcome",
        "RequestStatusEnum": "integration.vocabulary.RequestStatus",
    },
}

# --- Mail (failure alerts by email) ----------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "console@localhost")

# The cache holds IM provider tokens; point it at Redis so every worker shares them.
if env_str("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": env_str("CACHE_URL")}}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
# Publishing (enqueueing from the web process) tries the broker once, briefly: when the broker
# is down an ingest call must answer at once — its work is safe in the database and the outbox
# sweeper enqueues it later. Workers reconnect with their own, patient, retry policy.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
    "socket_connect_timeout": 3,
    # A connection that goes silent without closing fails a command after this, instead of
    # holding a process forever (BRPOP itself waits 1 s at a time, so it is never cut short).
    "socket_timeout": 10,
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update({
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        # Without it, broadcast commands (inspect ping) write ./control wherever a process runs.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    })
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
# How often a worker checks that it still takes the tasks waiting for it (0: never); see
# integration/watchdog.py. Two checks in a row must find it deaf before it reconnects.
WORKER_WATCHDOG_SECONDS = env_int("WORKER_WATCHDOG_SECONDS", 15, minimum=0, maximum=3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Unified todo push --------------------------------------------------------------------
# Decentralised administration (分权): push configs belong to an organization, and an
# administrator scoped to one sees and edits only its configs.
DECENTRALISED_ADMIN = env_bool("DECENTRALISED_ADMIN", False)
# The built-in sandbox target (/sandbox/...): on for trying configurations; turn it off in
# production if nobody should be able to post to it.
SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", True)
# Records of one config are spread over this many lanes; lanes are delivered in parallel.
PUSH_LANES = env_int("PUSH_LANES", 8, minimum=1, maximum=256)
# Transient failures are retried with backoff up to this many attempts in all: the first retry
# after PUSH_RETRY_BASE_SECONDS, doubling each time, at most 30 minutes.
PUSH_MAX_ATTEMPTS = env_int("PUSH_MAX_ATTEMPTS", 5, minimum=1, maximum=50)
PUSH_RETRY_BASE_SECONDS = env_int("PUSH_RETRY_BASE_SECONDS", 30, minimum=1, maximum=1800)
# How often beat runs the outbox sweeper, and how long a worker may hold a lane without
# renewing it (a worker that dies mid-batch frees its lanes after this).
PUSH_SWEEP_SECONDS = env_int("PUSH_SWEEP_SECONDS", 30, minimum=1, maximum=3600)
PUSH_LANE_LEASE_SECONDS = env_int("PUSH_LANE_LEASE_SECONDS", 120, minimum=2, maximum=3600)
# HTTP timeouts of every push call: connecting, and waiting for the answer.
PUSH_CONNECT_TIMEOUT = env_int("PUSH_CONNECT_TIMEOUT", 5, minimum=1, maximum=120)
PUSH_READ_TIMEOUT = env_int("PUSH_READ_TIMEOUT", 15, minimum=1, maximum=600)
# The OA's own links to a request, carried by pushed todos unless a push address replaces them:
# {oa} is OA_BASE_URL, {request_id} the request, {receiver} the receiver's login id.
OA_BASE_URL = env_str("OA_BASE_URL", "http://127.0.0.1:8000")
OA_PC_URL = env_str("OA_PC_URL", "{oa}/workflow/request/ViewRequest.jsp?requestid={request_id}")
OA_APP_URL = env_str("OA_APP_URL", "{oa}/mobile/plugin/1/view.jsp?requestid={request_id}")
# The tenant key that push-address parameters of kind "system parameter" may send.
OA_TENANT_KEY = env_str("OA_TENANT_KEY", "")

# --- Action flows ----------------------------------------------------------------------------
# A worker holds a run this long without renewing it (renewed before every step and try); a
# worker that dies frees its run after this, and another resumes it.
FLOW_RUN_LEASE_SECONDS = env_int("FLOW_RUN_LEASE_SECONDS", 600, minimum=30, maximum=86400)
# A run is claimed at most this many times (its worker keeps dying) before it is failed.
FLOW_RUN_MAX_EXECUTIONS = env_int("FLOW_RUN_MAX_EXECUTIONS", 3, minimum=1, maximum=20)
# Queued runs nobody took after this many seconds (broker away) are enqueued again.
FLOW_SWEEP_GRACE_SECONDS = env_int("FLOW_SWEEP_GRACE_SECONDS", 60, minimum=5, maximum=3600)
FLOW_SWEEP_SECONDS = env_int("FLOW_SWEEP_SECONDS", 30, minimum=5, maximum=3600)
# Finished runs (and their step logs) are deleted after this many days; unfinished never.
FLOW_RUN_KEEP_DAYS = env_int("FLOW_RUN_KEEP_DAYS", 30, minimum=1, maximum=3650)
# How long a flow step waits for a called flow, and a POST .../run?wait=true for its run.
FLOW_CALL_TIMEOUT = env_int("FLOW_CALL_TIMEOUT", 60, minimum=1, maximum=3600)
# Date-field triggers are checked this often (seconds); each pass fires at most this many runs
# per flow (the rest fire on the next pass).
FLOW_DATE_TRIGGER_SECONDS = env_int("FLOW_DATE_TRIGGER_SECONDS", 60, minimum=5, maximum=3600)
FLOW_DATE_TRIGGER_BATCH = env_int("FLOW_DATE_TRIGGER_BATCH", 500, minimum=1, maximum=100000)

# The inbox takes at most this many events in one call.
INBOX_MAX_BATCH = 1000
# Largest body a task callback may have; the platform sends a few KB.
TASK_CALLBACK_MAX_BODY_BYTES = env_int("TASK_CALLBACK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
