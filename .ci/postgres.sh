#!/usr/bin/env bash
# Starts the PostgreSQL server the tests run against, on a fresh Debian machine, as root:
# installs it from Debian's packages if it is missing, creates (once) a cluster of its own
# that listens on 127.0.0.1 only, and a role that may create databases (each test makes and
# drops its own). Safe to run again: it reuses the cluster, role and password, and starts the
# server only if it is down.
#
# Everything goes to stderr except one line on stdout, the export that points the tests at
# the server:
#
#   eval "$(.ci/postgres.sh)"        # or: eval "$(.ci/postgres.sh | tail -n 1)"
#
# WXAVATAR_PG_PORT picks the port when the cluster is first created (default 55432).
set -euo pipefail

cluster=wxavatar
role=wxavatar
port=${WXAVATAR_PG_PORT:-55432}

log() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "run me as root"; exit 1
fi

if ! command -v pg_createcluster >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  log "installing postgresql from the Debian packages"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/$cluster

# field N of this cluster's line in pg_lsclusters (3: port, 4: status).
cluster_field() { pg_lsclusters -h | awk -v v="$version" -v c="$cluster" -v f="$1" '$1 == v && $2 == c { print $f }'; }

if [ -z "$(cluster_field 2)" ]; then
  log "creating cluster $version/$cluster on 127.0.0.1:$port"
  pg_createcluster --port "$port" "$version" "$cluster" -- \
    --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
fi
# Our settings live in a file of their own under conf.d (which Debian's postgresql.conf
# includes), rewritten on every run so an older cluster is brought up to date; they take
# effect at the next start. Test data is thrown away: it need not survive a crash, and
# without fsync CREATE DATABASE and every commit are fast.
cat >"$conf/conf.d/wxavatar-test.conf" <<'CONF'
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
chown postgres:postgres "$conf/conf.d/wxavatar-test.conf"
port=$(cluster_field 3)

install -d -o postgres -g postgres -m 2775 /var/run/postgresql
if [ "$(cluster_field 4)" != online ]; then
  log "starting cluster $version/$cluster"
  pg_ctlcluster "$version" "$cluster" start >&2
fi
pg_isready -q -h 127.0.0.1 -p "$port" -t 30 || { log "the server on 127.0.0.1:$port does not answer"; exit 1; }

# The password is made once and kept beside the cluster's configuration, readable by root.
pwfile=$conf/wxavatar-test-password
if [ ! -s "$pwfile" ]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile")
fi
password=$(cat "$pwfile")

runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$port" -d postgres \
  -v role="$role" -v password="$password" >&2 <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS create_role \gset
\if :create_role
CREATE ROLE :"role";
\endif
ALTER ROLE :"role" WITH LOGIN CREATEDB PASSWORD :'password';
SQL

log "ready: PostgreSQL $version on 127.0.0.1:$port, role $role"
echo "export WXAVATAR_TEST_POSTGRES=postgres://$role:$password@127.0.0.1:$port/postgres?sslmode=disable"
