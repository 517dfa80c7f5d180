#!/bin/sh
# Run once by the postgis image on a new primary data directory (docker-entrypoint-initdb.d, see
# docker-compose.yml): a role for the replica's pg_basebackup and WAL streaming, and the pg_hba
# line that lets it connect for replication ("all" in pg_hba.conf does not cover replication).
set -eu
psql -v ON_ERROR_STOP=1 -v pw="${REPLICATION_PASSWORD:?}" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'EOSQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
EOSQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
