"""Settings, read from the environment with safe defaults for the local demo.

Production sets CHEMEARTH_ENV=production; then SECRET_KEY and ALLOWED_HOSTS have no defaults and
`manage.py check --deploy` is clean.
"""

import datetime as dt
import hashlib
import hmac
import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CHEMEARTH_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = os.environ.get("CHEMEARTH_ENV", "development") == "production"


def mandatory(name: str) -> str:
    """A production secret has no default: a missing one stops start-up."""
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when CHEMEARTH_ENV=production")
    return value


if PRODUCTION:
    SECRET_KEY = mandatory("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        # Django's own deploy check asks for as much: a short key signs guessable sessions.
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 varied characters")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "")
    DEBUG = False
else:
    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-local-demo-key-not-for-production")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    DEBUG = env_bool("DJANGO_DEBUG", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "leaflet",
    "baselines",
    "sharing",
    "maps",
    "portal",
]

MIDDLEWARE = [
    "chemearth.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.http.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chemearth.urls"
WSGI_APPLICATION = "chemearth.wsgi.application"

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
                "django.template.context_processors.i18n",
                "sharing.context_processors.pending_licences",
            ],
        },
    },
]

# PostgreSQL with PostGIS is the one source of truth; there is no SQLite fallback.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/chemearth"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        engine="django.contrib.gis.db.backends.postgis",
    )
}
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME", "test_chemearth")}
# PostGIS costs spatial predicates so high that short web queries cross the JIT threshold and
# spend seconds compiling (benchmarks/access.py measured 2-4x); the portal's queries do not gain.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = os.environ.get(
    "DATABASE_OPTIONS", "-c jit=off"
)
# A database host that does not answer (a fail-over, a network partition) fails a request in
# seconds, not after the kernel's TCP timeout: the request is answered 503 (portal.http).
DATABASES["default"]["OPTIONS"]["connect_timeout"] = int(
    os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")
)


# A PostgreSQL streaming replica (optional): reads that may lag go there, through the router and
# middleware of chemearth/db_router.py, which pin a client to the primary for
# REPLICA_PIN_SECONDS after it writes (read-your-writes). Unset: everything on "default".
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
# Longer than the replica's usual replay lag (pg_stat_replication.replay_lag) by a margin.
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "10"))
REPLICA_PIN_COOKIE = "chemearth_primary_until"
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        engine="django.contrib.gis.db.backends.postgis",
    )
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"]["OPTIONS"])
    # Test runs read the test database through both aliases (no second test database).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["chemearth.db_router.PrimaryReplicaRouter"]


def deployment_name(explicit: str | None, database: str) -> str:
    """The deployment's name: DEPLOYMENT_NAME if set, else the database's name made safe for
    Redis keys and Celery queue names (lower case, [a-z0-9_.-])."""
    if explicit:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,62}", explicit):
            raise ImproperlyConfigured(
                "DEPLOYMENT_NAME must be 1-63 of a-z 0-9 _ . - (starting with a letter or digit)"
            )
        return explicit
    return re.sub(r"[^a-z0-9_.-]+", "-", database.lower()).strip("-._")[:63] or "chemearth"


# Portals sharing one Redis (two deployments, a benchmark beside the demo, test runs) are kept
# apart by this name: it prefixes every cache key and names the Celery queue and the control and
# event exchanges, so none reads another's cache, takes another's tasks or answers its pings.
DEPLOYMENT_NAME = deployment_name(os.environ.get("DEPLOYMENT_NAME"), DATABASES["default"]["NAME"])

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": DEPLOYMENT_NAME,
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks are acknowledged late: Redis hands an unacknowledged message out again after this many
# seconds. Longer than the longest hard time limit (ingest: 6 h), so a task still running is
# never given to a second worker; a dead worker's task comes back after it (docs/architecture.md
# §12, Faults).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(7 * 3600)))
}
# Tasks go to this deployment's queues (the default one and the per-kind ones below; no task names
# a queue itself), and workers listen for pings and inspections on its exchanges only.
CELERY_TASK_DEFAULT_QUEUE = DEPLOYMENT_NAME
CELERY_CONTROL_EXCHANGE = DEPLOYMENT_NAME
CELERY_EVENT_EXCHANGE = f"{DEPLOYMENT_NAME}.events"
# Queues per job kind, so workers on separate hosts can each take one kind: renders (CPU and the
# tile root), ingests (the database's write load), download packages (I/O and the package
# storage); the default queue takes the rest (layer refreshes, dashboard warm-ups, embargo
# releases, the heartbeat). Every name starts with the deployment's, as the default queue's does.
# This is the one list: the routes below, the queues a worker consumes (`-Q "$(python -m
# chemearth.queues [KIND ...])"`, the tests' worker) and the queue lengths in /metrics.
JOB_QUEUES = {
    "default": DEPLOYMENT_NAME,
    "render": f"{DEPLOYMENT_NAME}.render",
    "ingest": f"{DEPLOYMENT_NAME}.ingest",
    "downloads": f"{DEPLOYMENT_NAME}.downloads",
}
# Declared, so a worker started without -Q consumes them all rather than the default queue alone.
CELERY_TASK_QUEUES = {name: {"exchange": name, "routing_key": name} for name in JOB_QUEUES.values()}
CELERY_TASK_ROUTES = {
    task: {"queue": JOB_QUEUES[kind], "routing_key": JOB_QUEUES[kind]}
    for task, kind in {
        "maps.tasks.render_map_layer": "render",
        # Deletes layer files under TILE_ROOT, which the render hosts hold.
        "maps.tasks.cleanup_map_layers": "render",
        "baselines.tasks.ingest_file": "ingest",
        "downloads.tasks.build_download_package": "downloads",
        "downloads.tasks.cleanup_download_packages": "downloads",
    }.items()
}
CELERY_BEAT_SCHEDULE = {
    # Embargoes end at 00:00 UTC; checking every 5 minutes re-renders released maps promptly.
    "release-due-embargoes": {
        "task": "sharing.tasks.release_due_embargoes",
        "schedule": float(os.environ.get("RELEASE_CHECK_SECONDS", "300")),
    },
    # Retires map layers made stale by changes that sent no signal (raw SQL) and deletes the
    # files of retired and long-unused layers.
    "cleanup-map-layers": {
        "task": "maps.tasks.cleanup_map_layers",
        "schedule": float(os.environ.get("LAYER_CLEANUP_SECONDS", "600")),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Rendered map layers (COG, tile cache, legend): TILE_ROOT/public/<layer>/ for layers every viewer
# may see (a front server may serve their tiles directly), TILE_ROOT/private/<layer>/ for the rest
# (served only after the access check, through X-Accel-Redirect when TILE_ACCEL_REDIRECT is set),
# TILE_ROOT/trash/ for retired layers awaiting the cleanup job.
TILE_ROOT = Path(os.environ.get("TILE_ROOT", VAR_DIR / "tiles"))
TILE_ACCEL_REDIRECT = os.environ.get("TILE_ACCEL_REDIRECT", "")  # e.g. "/_protected_tiles/"
TILE_SEED_MAX_ZOOM = int(os.environ.get("TILE_SEED_MAX_ZOOM", "5"))
# The tile path keeps layer rows and versions in process memory, cleared by PostgreSQL's change
# notices (chemearth/change_feed.py): a warm tile request makes no query.
CHANGE_FEED_MEMOS = env_bool("CHANGE_FEED_MEMOS", True)
# Restricted layers' tile URLs carry a capability: the layer key and an expiry signed with
# HMAC-SHA256 (portal/tile_capabilities.py), which nginx checks without the portal
# (deploy/tile_capability.js; give nginx the same TILE_CAPABILITY_SECRET in its environment).
# Unset, it is derived from SECRET_KEY (enough without nginx in front).
TILE_CAPABILITY_SECRET = (
    os.environ.get("TILE_CAPABILITY_SECRET")
    or hmac.new(SECRET_KEY.encode(), b"chemearth tile capabilities", hashlib.sha256).hexdigest()
)
TILE_CAPABILITY_SECONDS = int(os.environ.get("TILE_CAPABILITY_SECONDS", "900"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Outside production, assets are served straight from static/ (no collectstatic needed).
WHITENOISE_USE_FINDERS = not PRODUCTION

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"

REST_FRAMEWORK = {
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    # Partners script downloads with a token (Authorization: Token <key>); pages use sessions.
    # Token first: DRF answers a bad credential with the first class's challenge, so a revoked
    # token gets 401 with WWW-Authenticate rather than a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "sharing.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "portal.http.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema of /api/v1/ (/api/schema/) and its pages (/api/docs/), assets served locally.
SPECTACULAR_SETTINGS = {
    "TITLE": "Chemical Earth API",
    "DESCRIPTION": (
        "Geochemical baselines through each country's data-release policy. Authenticate with "
        "`Authorization: Token <key>` (account page) or the session; a bad token is a 401. Every "
        "error is JSON `{error, reason, status}`; missing and hidden objects are the same 404."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.schema.add_error_responses",
    ],
}

LEAFLET_CONFIG = {
    # Country boundaries are the offline base layer; no tile server is contacted by default.
    "TILES": [],
    "DEFAULT_CENTER": (30.0, 0.0),
    "DEFAULT_ZOOM": 2,
}

# Ingestion: how many problems an ingest reports before it stops listing them.
INGEST_MAX_ERRORS = int(os.environ.get("INGEST_MAX_ERRORS", "50"))
# Skip the sample COPY's per-row foreign-key checks when the database role may (see
# baselines/ingest/write.py, _skip_reference_checks); false: PostgreSQL checks every row.
INGEST_SKIP_REFERENCE_CHECKS = env_bool("INGEST_SKIP_REFERENCE_CHECKS", True)
# An ingest with at least this many new measurement rows loads them into a fresh partition of
# the measurement table, indexed and attached in its transaction; fewer go to the default
# partition (baselines/storage.py, load_partition).
INGEST_PARTITION_MIN_ROWS = int(os.environ.get("INGEST_PARTITION_MIN_ROWS", "200000"))
# Points this close to a country (but outside its generalised polygon) are assigned to it, and a
# country a file states for a row must contain the row's point or lie this close to it.
INGEST_COUNTRY_TOLERANCE_M = float(os.environ.get("INGEST_COUNTRY_TOLERANCE_M", "10000"))
# Element → the largest concentration an ingest accepts (CSV symbol,max_mg_kg); elements it does
# not list are bounded by 100 % alone (baselines/ingest/validate.py, plausible_max).
INGEST_PLAUSIBLE_MAX_FILE = Path(
    os.environ.get(
        "INGEST_PLAUSIBLE_MAX_FILE", BASE_DIR / "baselines" / "data" / "plausible_max.csv"
    )
)

# Logs: one JSON line per record on stderr (chemearth/logs.py), one per request and per task with
# its id, user id, duration and outcome, credentials scrubbed. LOG_FORMAT=text for plain lines.
# Requests and tasks log at INFO (REQUEST_LOG_LEVEL); the rest at LOG_LEVEL.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "chemearth.logs.JsonFormatter"}},
    "filters": {"scrub": {"()": "chemearth.logs.ScrubFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["scrub"],
            **({"formatter": "json"} if os.environ.get("LOG_FORMAT", "json") == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        name: {"level": os.environ.get("REQUEST_LOG_LEVEL", "INFO")}
        for name in ("chemearth.requests", "chemearth.tasks")
    },
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Debian 12 ships GDAL 3.6, which cannot block file/network access from spatial references; the
# portal only reads spatial references from its own data and from files a steward ingests.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sharing:account"
LOGOUT_REDIRECT_URL = "portal:home"
DEFAULT_FROM_EMAIL = os.environ.get(
    "DEFAULT_FROM_EMAIL", "Chemical Earth <noreply@chemearth.invalid>"
)

# --- downloads ---
# Download packages (the `downloads` app, endpoints in portal/downloads_*.py): built by a Celery
# job into DOWNLOAD_ROOT, fetched through a link signed for the job's user. Limits count the
# measurement rows (values) a package would hold, by the viewer's role; None: no limit. A request
# over its limit is refused before any work starts, never cut short.
INSTALLED_APPS += ["downloads", "dashboards"]
# Dashboards print no share of fewer samples than this ("too few samples" instead).
DASHBOARD_MIN_SAMPLES = int(os.environ.get("DASHBOARD_MIN_SAMPLES", "10"))
# After an ingest or a policy change a Celery task computes every audience's default figures
# (dashboards/warm.py), so no viewer waits for a whole-world figure.
DASHBOARD_WARM_AFTER_CHANGES = env_bool("DASHBOARD_WARM_AFTER_CHANGES", True)
# Every layer refresh (after an ingest or a policy change) also queues the featured map's public
# layer (maps/featured.py), so /map/ opens painted.
MAP_SEED_FEATURED = env_bool("MAP_SEED_FEATURED", True)
DOWNLOAD_ROOT = Path(os.environ.get("DOWNLOAD_ROOT", VAR_DIR / "downloads"))
DOWNLOAD_MAX_ROWS = {
    "anonymous": int(os.environ.get("DOWNLOAD_MAX_ROWS_ANONYMOUS", "2000000")),
    "registered": int(os.environ.get("DOWNLOAD_MAX_ROWS_REGISTERED", "10000000")),
    "partner": int(os.environ.get("DOWNLOAD_MAX_ROWS_PARTNER", "50000000")),
    "steward": None,
    "staff": None,
}
# Signed links expire after this many seconds (default 24 h); files are deleted after
# DOWNLOAD_KEEP_SECONDS (default 7 days) by the beat job below.
DOWNLOAD_LINK_MAX_AGE = int(os.environ.get("DOWNLOAD_LINK_MAX_AGE", str(24 * 3600)))
DOWNLOAD_KEEP_SECONDS = int(os.environ.get("DOWNLOAD_KEEP_SECONDS", str(7 * 24 * 3600)))
# Behind nginx (deploy/nginx.conf): an internal location aliasing DOWNLOAD_ROOT, e.g.
# "/_protected_downloads/"; empty: the portal streams the file itself (FileResponse).
DOWNLOAD_ACCEL_REDIRECT = os.environ.get("DOWNLOAD_ACCEL_REDIRECT", "")
DOWNLOAD_TASK_TIME_LIMIT = int(os.environ.get("DOWNLOAD_TASK_TIME_LIMIT", "7200"))
# Finished packages are kept in Django's storage "downloads" (downloads/storage.py): DOWNLOAD_ROOT
# on the local disk by default; an S3-protocol bucket (django-storages) when STORAGE_S3_BUCKET is
# set, so web and worker hosts need no shared disk. Builds still use DOWNLOAD_ROOT/tmp on the
# worker. On S3 the signed link answers with a redirect to a presigned URL valid
# STORAGE_S3_URL_SECONDS (STORAGE_S3_REDIRECT=false: the portal streams the object itself).
STORAGE_S3_BUCKET = os.environ.get("STORAGE_S3_BUCKET", "")
STORAGE_S3_REDIRECT = env_bool("STORAGE_S3_REDIRECT", True)
STORAGE_S3_URL_SECONDS = int(os.environ.get("STORAGE_S3_URL_SECONDS", "300"))
if STORAGE_S3_BUCKET:
    STORAGES["downloads"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_S3_BUCKET,
            # Empty: AWS itself; else MinIO, Ceph RGW, a cloud's S3 endpoint (https://...).
            "endpoint_url": os.environ.get("STORAGE_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("STORAGE_S3_REGION") or None,
            # Empty: boto3's own chain (instance role, AWS_* variables).
            "access_key": os.environ.get("STORAGE_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("STORAGE_S3_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("STORAGE_S3_PREFIX", "downloads"),
            "addressing_style": os.environ.get("STORAGE_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            "default_acl": None,  # private objects: only presigned URLs read them
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }
else:
    STORAGES["downloads"] = {"BACKEND": "downloads.storage.DownloadRootStorage"}
CELERY_BEAT_SCHEDULE["cleanup-download-packages"] = {
    "task": "downloads.tasks.cleanup_download_packages",
    "schedule": float(os.environ.get("DOWNLOAD_CLEANUP_SECONDS", "3600")),
}
# --- end downloads ---

# JSON feature pages of the read API (portal/page_cache.py) are kept this many seconds per (URL,
# viewer's rights, data version), up to this size each; 0 turns the cache off.
API_PAGE_CACHE_SECONDS = int(os.environ.get("API_PAGE_CACHE_SECONDS", "300"))
API_PAGE_CACHE_MAX_BYTES = int(os.environ.get("API_PAGE_CACHE_MAX_BYTES", str(4 * 1024 * 1024)))

# --- health ---
# /health/ (health/checks.py, portal/health.py): database, PostGIS, migrations, cache, broker,
# workers, beat's heartbeat, free disk. Everyone gets the status and which checks failed; the
# details (versions, timings, worker names, free space) go to staff and to requests carrying
# `X-Health-Token: <HEALTH_TOKEN>` (empty: staff only).
INSTALLED_APPS += ["health"]
HEALTH_TOKEN = os.environ.get("HEALTH_TOKEN", "")
HEALTH_TIMEOUT = float(os.environ.get("HEALTH_TIMEOUT", "3"))  # seconds for the whole answer
HEALTH_WORKER_TIMEOUT = float(os.environ.get("HEALTH_WORKER_TIMEOUT", "1"))  # ping wait
# Beat queues a heartbeat task every HEALTH_BEAT_SECONDS; beat is down once the last heartbeat
# is older than HEALTH_BEAT_MAX_AGE seconds.
HEALTH_BEAT_SECONDS = float(os.environ.get("HEALTH_BEAT_SECONDS", "60"))
HEALTH_BEAT_MAX_AGE = float(os.environ.get("HEALTH_BEAT_MAX_AGE", "300"))
# Down when the file system under TILE_ROOT or DOWNLOAD_ROOT has less free space than this.
HEALTH_DISK_MIN_FREE_MB = int(os.environ.get("HEALTH_DISK_MIN_FREE_MB", "1024"))
# With a replica (DATABASE_REPLICA_URL): down when its replay is further behind than this.
HEALTH_REPLICA_MAX_LAG = float(os.environ.get("HEALTH_REPLICA_MAX_LAG", "60"))
CELERY_BEAT_SCHEDULE["health-heartbeat"] = {
    "task": "health.tasks.beat_heartbeat",
    "schedule": HEALTH_BEAT_SECONDS,
    # A heartbeat nobody ran in time is dropped, not piled up while the workers are away.
    "options": {"expires": HEALTH_BEAT_SECONDS * 2},
}
if PRODUCTION:
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
# --- end health ---

# --- hardening ---
# Content-Security-Policy (django-csp; portal.http.ContentSecurityPolicyMiddleware): scripts and
# style sheets come from the portal only — no inline script anywhere (the admin's map widgets
# excepted, staff only). Style *attributes* are allowed: Leaflet, ECharts' SVG and the legends'
# swatches set them, and a style attribute cannot run script. The viewer's optional
# OpenStreetMap base layer is the one image source outside the portal.
INSTALLED_APPS += ["csp", "axes"]
MIDDLEWARE.insert(2, "portal.http.ContentSecurityPolicyMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Sign-in throttling (django-axes): after SIGN_IN_FAILURES_ALLOWED wrong passwords from one address
# (or for one user from one address) the next attempt, and every one for AXES_COOLOFF_MINUTES, is
# refused with a page saying so (429). django-axes locks at its limit, hence the + 1.
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as django-axes asks
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
SIGN_IN_FAILURES_ALLOWED = int(os.environ.get("SIGN_IN_FAILURES_ALLOWED", "20"))
AXES_FAILURE_LIMIT = SIGN_IN_FAILURES_ALLOWED + 1
AXES_COOLOFF_TIME = dt.timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES", "1")))
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
if PRODUCTION:
    # Behind deploy/nginx.conf every client arrives from the proxy, which names it in X-Real-IP
    # (set, never passed on from the client) and last in X-Forwarded-For (DRF's NUM_PROXIES).
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_REAL_IP", "REMOTE_ADDR"]
    REST_FRAMEWORK["NUM_PROXIES"] = 1
# Password-reset requests per address and hour (portal: sharing's reset view refuses the rest).
PASSWORD_RESET_LIMIT_PER_HOUR = int(os.environ.get("PASSWORD_RESET_LIMIT_PER_HOUR", "10"))

# API throttles (DRF): per address for anonymous clients, per user for signed-in ones; over the
# rate is a 429 with Retry-After and the API's error body. Empty: no throttle (benchmarks).
_THROTTLE_RATES = {
    "anon": os.environ.get("API_THROTTLE_ANON", "1200/minute") or None,
    "user": os.environ.get("API_THROTTLE_USER", "3000/minute") or None,
}
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    f"portal.throttles.{'Anon' if scope == 'anon' else 'User'}Throttle"
    for scope, rate in _THROTTLE_RATES.items()
    if rate
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = _THROTTLE_RATES
# Map images (portal/map_images.py) cost up to ~2 s of CPU each (A3 at 300 dpi): a rate of their
# own per user or address, besides the API's (empty: no extra limit).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["map_image"] = (
    os.environ.get("API_THROTTLE_MAP_IMAGE", "30/minute") or None
)
# /metrics (portal/metrics.py): a scraper sends "Authorization: Bearer <METRICS_TOKEN>"; empty:
# staff only. Under gunicorn set PROMETHEUS_MULTIPROC_DIR to add up the workers' counts.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# --- end hardening ---

# Green-land certificates (the `certificates` app; pages in portal/certificates_pages.py).
# Signing: "<kid>:<base64 raw Ed25519 private key>" (manage.py certificate_keygen); without it a
# development key derived from SECRET_KEY signs, and production refuses to issue. Retired keys'
# public parts stay in CERTIFICATE_VERIFY_KEYS so older certificates still verify by their kid.
INSTALLED_APPS += ["certificates"]
CERTIFICATE_SIGNING_KEY = os.environ.get("CERTIFICATE_SIGNING_KEY", "")
CERTIFICATE_VERIFY_KEYS = env_list("CERTIFICATE_VERIFY_KEYS", "")
# A unit with fewer visible samples than this is "too few samples to rate", not graded.
CERTIFICATE_MIN_SAMPLES = int(os.environ.get("CERTIFICATE_MIN_SAMPLES", "3"))
# --- replica ---
# First after the request log: sessions, authentication and every view read through its choice.
if DATABASE_REPLICA_URL:
    MIDDLEWARE.insert(1, "chemearth.db_router.PinToPrimaryMiddleware")
# --- end replica ---
