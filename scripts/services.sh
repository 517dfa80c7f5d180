#!/usr/bin/env bash
# Local PostgreSQL (with PostGIS) and Redis for development, the demo and the tests.
#
#   scripts/services.sh start      use what already answers on 127.0.0.1:5432 / :6379; otherwise
#                                  start the Debian cluster, or a private one under var/
#   scripts/services.sh stop       stop only the private servers this script started itself
#   scripts/services.sh status     say what answers, and whose it is
#   scripts/services.sh ensure-db  create the database named in DATABASE_URL (and PostGIS in it);
#                                  prints a line only when it created something
#
# System services are never stopped or reconfigured. A private server is recorded by a marker
# file in var/services/; only those are stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"
MARKERS="$VAR/services"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_VERSION=15
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PGDATA_DIR="${CHEMEARTH_PGDATA:-$VAR/pgdata}"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
DATABASE_URL="${DATABASE_URL:-postgis://postgres@127.0.0.1:5432/chemearth}"

say() { printf '%s\n' "$*"; }
die() { printf 'services.sh: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as the postgres user (PostgreSQL refuses to run as root).
as_postgres() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }
redis_answers() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

wait_for() { # wait_for SECONDS CHECK-FUNCTION
    local i
    for ((i = 0; i < $1 * 4; i++)); do
        "$2" && return 0
        sleep 0.25
    done
    return 1
}

# ---------------------------------------------------------------- PostgreSQL

debian_cluster_exists() {
    [ -f "/etc/postgresql/$PG_VERSION/main/postgresql.conf" ] || return 1
    # Only worth starting if it listens on the port we want.
    local port
    port="$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' \
        "/etc/postgresql/$PG_VERSION/main/postgresql.conf" | tail -n1)"
    [ "${port:-5432}" = "$PG_PORT" ]
}

start_debian_cluster() {
    command -v pg_ctlcluster >/dev/null 2>&1 || return 1
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        sudo=(sudo -n)
    fi
    # Fails also when the cluster already runs but does not answer here: then it is of no use.
    "${sudo[@]}" pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start >/dev/null 2>&1 ||
        return 1
    wait_for 30 pg_answers
}

start_private_postgres() {
    [ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb: run 'make install' first"
    mkdir -p "$VAR/log" "$MARKERS"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "there is no 'postgres' user to run a private PostgreSQL as"
    fi
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        say "postgres: initialising a private cluster in $PGDATA_DIR"
        rm -rf "$PGDATA_DIR"
        mkdir -p "$PGDATA_DIR"
        chmod 700 "$PGDATA_DIR"
        is_root && chown postgres:postgres "$PGDATA_DIR"
        as_postgres test -w "$PGDATA_DIR" ||
            die "the postgres user cannot write $PGDATA_DIR (set CHEMEARTH_PGDATA to a reachable path)"
        as_postgres "$PG_BIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 \
            --locale=C.UTF-8 >"$VAR/log/postgres-initdb.log" 2>&1 ||
            die "initdb failed, see $VAR/log/postgres-initdb.log"
        cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# chemearth private development cluster (scripts/services.sh)
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$PGDATA_DIR'
synchronous_commit = off
EOF
    fi
    touch "$VAR/log/postgres.log"
    is_root && chown postgres:postgres "$VAR/log/postgres.log"
    say "postgres: starting a private server on $PG_HOST:$PG_PORT (log: $VAR/log/postgres.log)"
    as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$VAR/log/postgres.log" -w -t 60 start \
        >/dev/null || die "PostgreSQL did not start, see $VAR/log/postgres.log"
    printf '%s\n' "$PGDATA_DIR" >"$MARKERS/postgres"
}

start_postgres() {
    if pg_answers; then
        say "postgres: using the server on $PG_HOST:$PG_PORT"
        return 0
    fi
    if [ -f "$MARKERS/postgres" ] || ! debian_cluster_exists; then
        start_private_postgres
    elif start_debian_cluster; then
        say "postgres: started the Debian cluster $PG_VERSION/main on $PG_HOST:$PG_PORT"
    else
        say "postgres: could not start the Debian cluster $PG_VERSION/main, using a private one"
        start_private_postgres
    fi
    wait_for 30 pg_answers || die "nothing answers on $PG_HOST:$PG_PORT"
}

stop_postgres() {
    [ -f "$MARKERS/postgres" ] || return 0
    local dir
    dir="$(cat "$MARKERS/postgres")"
    if [ -f "$dir/postmaster.pid" ]; then
        say "postgres: stopping the private server ($dir)"
        as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null ||
            die "could not stop the private PostgreSQL in $dir"
    fi
    rm -f "$MARKERS/postgres"
}

# --------------------------------------------------------------------- Redis

start_redis() {
    if redis_answers; then
        say "redis: using the server on $REDIS_HOST:$REDIS_PORT"
        return 0
    fi
    command -v redis-server >/dev/null 2>&1 || die "no redis-server: run 'make install' first"
    mkdir -p "$VAR/redis" "$VAR/run" "$VAR/log" "$MARKERS"
    say "redis: starting a private server on $REDIS_HOST:$REDIS_PORT (log: $VAR/log/redis.log)"
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" \
        --appendonly no --dir "$VAR/redis" --pidfile "$VAR/run/redis.pid" \
        --logfile "$VAR/log/redis.log"
    : >"$MARKERS/redis"
    wait_for 15 redis_answers || die "Redis did not start, see $VAR/log/redis.log"
}

stop_redis() {
    [ -f "$MARKERS/redis" ] || return 0
    if redis_answers; then
        say "redis: stopping the private server"
        redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        local i
        for ((i = 0; i < 40; i++)); do
            redis_answers || break
            sleep 0.25
        done
    fi
    rm -f "$MARKERS/redis" "$VAR/run/redis.pid"
}

# ------------------------------------------------------------------ database

# Split DATABASE_URL into libpq URIs for the maintenance database and the target database.
parse_database_url() {
    python3 - "$DATABASE_URL" <<'EOF'
import shlex
import sys
from urllib.parse import unquote, urlsplit, urlunsplit

url = urlsplit(sys.argv[1])
name = unquote(url.path.lstrip("/")) or "chemearth"
def uri(db):
    return urlunsplit(("postgresql", url.netloc or "127.0.0.1:5432", "/" + db, "", ""))
print(f"DB_NAME={shlex.quote(name)}")
print(f"ADMIN_URI={shlex.quote(uri('postgres'))}")
print(f"DB_URI={shlex.quote(url.geturl().replace(url.scheme + '://', 'postgresql://', 1))}")
EOF
}

ensure_db() {
    local DB_NAME ADMIN_URI DB_URI exists quoted
    eval "$(parse_database_url)"
    export PGCONNECT_TIMEOUT=10 PGOPTIONS="-c client_min_messages=warning"
    exists="$(psql "$ADMIN_URI" -X -v ON_ERROR_STOP=1 -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME//\'/\'\'}'")" ||
        die "cannot connect to PostgreSQL with DATABASE_URL (is it up? does it allow this user?)"
    if [ "$exists" != 1 ]; then
        quoted="\"${DB_NAME//\"/\"\"}\""
        psql "$ADMIN_URI" -X -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $quoted" >/dev/null
        say "created database $DB_NAME"
    fi
    if [ "$(psql "$DB_URI" -X -qtAc "SELECT 1 FROM pg_extension WHERE extname = 'postgis'")" != 1 ]; then
        psql "$DB_URI" -X -v ON_ERROR_STOP=1 -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null ||
            die "could not create the postgis extension (is postgresql-$PG_VERSION-postgis-3 installed?)"
        say "created extension postgis in $DB_NAME"
    fi
}

# -------------------------------------------------------------------- status

status() {
    if pg_answers; then
        if [ -f "$MARKERS/postgres" ]; then
            say "postgres: running on $PG_HOST:$PG_PORT (private, $(cat "$MARKERS/postgres"))"
        else
            say "postgres: running on $PG_HOST:$PG_PORT (not started by this script)"
        fi
    else
        say "postgres: not answering on $PG_HOST:$PG_PORT"
    fi
    if redis_answers; then
        if [ -f "$MARKERS/redis" ]; then
            say "redis: running on $REDIS_HOST:$REDIS_PORT (private, data dir $VAR/redis)"
        else
            say "redis: running on $REDIS_HOST:$REDIS_PORT (not started by this script)"
        fi
    else
        say "redis: not answering on $REDIS_HOST:$REDIS_PORT"
    fi
}

case "${1:-}" in
start)
    start_postgres
    start_redis
    ;;
stop)
    stop_redis
    stop_postgres
    ;;
status) status ;;
ensure-db) ensure_db ;;
*)
    echo "usage: $0 {start|stop|status|ensure-db}" >&2
    exit 2
    ;;
esac
