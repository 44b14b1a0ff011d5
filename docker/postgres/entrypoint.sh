#!/bin/sh
# The part of the official postgres image's entrypoint that docker-compose.yml relies on:
# on the first start, initdb with POSTGRES_USER as the superuser and POSTGRES_PASSWORD as its
# password, create POSTGRES_DB, accept password (scram-sha-256) logins from the network; then
# run the command (`postgres …`) as the postgres user. Anything else is run as given.
set -eu

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    chown postgres "$password_file"
    as_postgres initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        # Single-user mode: no server listens (and no health check passes) until all is made.
        echo "CREATE DATABASE \"$db\" OWNER \"$user\"" \
            | as_postgres postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    echo "postgres-entrypoint: made the database cluster in $PGDATA (user $user, database $db)"
fi

shift
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres "$@"
