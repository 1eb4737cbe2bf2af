#!/usr/bin/env bash
# Project-local PostgreSQL and Redis for development, tests and CI.
# Run with --help for usage.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/services.sh [start|stop|status|env|--help]

Runs Switchyard's own PostgreSQL and Redis instances with their data in
<repo>/.data/ (git-ignored). The distribution's system services are never used.

  start   (default) install what is missing (apt on Debian/Ubuntu, Homebrew on
          macOS), initialise the data folder, start both services, wait until
          they answer, and make sure the `switchyard` role and database exist.
          Running it while the services are up only verifies them.
  stop    stop both services (fast shutdown; Redis keeps no data). Idempotent.
  status  print the state of each service; exit 0 only if both are up.
  env     print the two export lines for DATABASE_URL and REDIS_URL:
            eval "$(scripts/services.sh env)"

Ports (fixed by project convention; override only to run a second checkout
side by side): SWITCHYARD_PG_PORT (default 54329), SWITCHYARD_REDIS_PORT
(default 63799). Both services listen on 127.0.0.1 only.

Files: .data/pg/data (cluster), .data/pg/postgres.log, .data/redis/redis.log,
.data/redis/redis.pid, .data/services.lock.
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DATA="$REPO/.data"
PG_PORT=${SWITCHYARD_PG_PORT:-54329}
REDIS_PORT=${SWITCHYARD_REDIS_PORT:-63799}
HOST=127.0.0.1
PG_HOME="$DATA/pg"           # owned by the user PostgreSQL runs as
PGDATA_DIR="$PG_HOME/data"
PG_LOG="$PG_HOME/postgres.log"
REDIS_DIR="$DATA/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
DEADLINE_SECONDS=${SWITCHYARD_SERVICES_TIMEOUT:-60}

APP_USER=switchyard
APP_PASSWORD=switchyard
APP_DB=switchyard

say() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

OS=$(uname -s)
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---------------------------------------------------------------- locating binaries

PG_BIN=""
# pg_version_ok DIR: DIR holds a PostgreSQL >= 14 server toolchain.
pg_version_ok() {
	local dir=$1 major
	[ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ] && [ -x "$dir/psql" ] && [ -x "$dir/pg_isready" ] || return 1
	major=$("$dir/pg_ctl" --version 2>/dev/null | sed -n 's/^pg_ctl (PostgreSQL) \([0-9][0-9]*\).*/\1/p')
	[ -n "$major" ] && [ "$major" -ge 14 ]
}

find_pg() {
	local candidates=() v dir existing=""
	# An existing cluster can only be opened by its own major version.
	if [ -f "$PGDATA_DIR/PG_VERSION" ]; then
		existing=$(cat "$PGDATA_DIR/PG_VERSION")
		candidates+=("/usr/lib/postgresql/$existing/bin")
		if command -v brew >/dev/null 2>&1; then
			candidates+=("$(brew --prefix "postgresql@$existing" 2>/dev/null || true)/bin")
		fi
	fi
	# Debian/Ubuntu keep server binaries out of PATH; 15 first, then newer, then 14.
	for v in 15 16 17 18 14; do candidates+=("/usr/lib/postgresql/$v/bin"); done
	if [ "$OS" = Darwin ]; then
		for v in 15 16 17 14; do
			candidates+=("/opt/homebrew/opt/postgresql@$v/bin" "/usr/local/opt/postgresql@$v/bin")
		done
	fi
	if command -v pg_ctl >/dev/null 2>&1; then
		dir=$(dirname "$(command -v pg_ctl)")
		candidates+=("$dir")
		# /usr/local/bin/pg_ctl may be a symlink next to no psql; follow it.
		if command -v readlink >/dev/null 2>&1; then
			dir=$(dirname "$(readlink -f "$(command -v pg_ctl)" 2>/dev/null || command -v pg_ctl)")
			candidates+=("$dir")
		fi
	fi
	for dir in "${candidates[@]}"; do
		if pg_version_ok "$dir"; then
			case "$("$dir/pg_ctl" --version)" in
			*"PostgreSQL) $existing."*) ;;
			*) [ -z "$existing" ] || continue ;;
			esac
			PG_BIN=$dir
			return 0
		fi
	done
	return 1
}

REDIS_SERVER=""
REDIS_CLI=""
find_redis() {
	REDIS_SERVER=$(command -v redis-server 2>/dev/null || true)
	REDIS_CLI=$(command -v redis-cli 2>/dev/null || true)
	if [ -z "$REDIS_SERVER" ] && [ "$OS" = Darwin ]; then
		for p in /opt/homebrew/bin /usr/local/bin; do
			[ -x "$p/redis-server" ] && REDIS_SERVER="$p/redis-server" && REDIS_CLI="$p/redis-cli"
		done
	fi
	[ -n "$REDIS_SERVER" ] && [ -n "$REDIS_CLI" ]
}

# ---------------------------------------------------------------- installing

as_admin() {
	if [ "$IS_ROOT" -eq 1 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (install sudo or run as root)"
	fi
}

# apt_installable PKG: apt has a candidate version of PKG. (The output is
# captured first: `apt-cache ... | grep -q` under pipefail fails whenever grep
# exits before apt-cache has written everything.)
apt_installable() {
	local policy
	policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
	case "$policy" in
	*"Candidate: (none)"*) return 1 ;;
	*"Candidate: "[0-9]*) return 0 ;;
	*) return 1 ;;
	esac
}

# apt_pg_package picks the PostgreSQL server package this distribution offers:
# postgresql-15 when available, otherwise the newest postgresql-N with N >= 14.
apt_pg_package() {
	local v best="" names
	if apt_installable postgresql-15; then
		echo postgresql-15
		return
	fi
	names=$(apt-cache pkgnames postgresql- 2>/dev/null || true)
	for v in $(printf '%s\n' "$names" | sed -n 's/^postgresql-\([0-9][0-9]*\)$/\1/p' | sort -n); do
		if [ "$v" -ge 14 ] && apt_installable "postgresql-$v"; then
			best=$v
		fi
	done
	[ -n "$best" ] || die "no PostgreSQL >= 14 package in the apt sources; add https://apt.postgresql.org and retry"
	echo "postgresql-$best"
}

install_missing() {
	local need_pg=0 need_redis=0 pkgs=()
	find_pg || need_pg=1
	find_redis || need_redis=1
	[ "$need_pg" -eq 0 ] && [ "$need_redis" -eq 0 ] && return 0

	case "$OS" in
	Linux)
		command -v apt-get >/dev/null 2>&1 ||
			die "PostgreSQL >= 14 and Redis are required; automatic install supports Debian/Ubuntu (apt) and macOS (Homebrew) only"
		say "installing missing packages with apt-get (PostgreSQL: $([ $need_pg -eq 1 ] && echo missing || echo ok), Redis: $([ $need_redis -eq 1 ] && echo missing || echo ok))"
		# Installing postgresql-N / redis-server lets the distribution start its own
		# service on the default ports (5432/6379). We leave those alone: they do not
		# clash with our ports and stopping them could break something else on the machine.
		as_admin env DEBIAN_FRONTEND=noninteractive apt-get update -q
		[ "$need_pg" -eq 1 ] && pkgs+=("$(apt_pg_package)")
		[ "$need_redis" -eq 1 ] && pkgs+=(redis-server redis-tools)
		as_admin env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
		;;
	Darwin)
		command -v brew >/dev/null 2>&1 || die "install Homebrew (https://brew.sh) first, then rerun"
		[ "$need_pg" -eq 1 ] && pkgs+=(postgresql@15)
		[ "$need_redis" -eq 1 ] && pkgs+=(redis)
		say "installing with Homebrew: ${pkgs[*]}"
		# Formulae only; we never `brew services start` them.
		brew install "${pkgs[@]}"
		;;
	*)
		die "unsupported OS $OS: install PostgreSQL >= 14 and Redis yourself and rerun"
		;;
	esac
	find_pg || die "PostgreSQL was installed but no pg_ctl >= 14 was found (looked in /usr/lib/postgresql/*/bin, Homebrew and PATH)"
	find_redis || die "Redis was installed but redis-server/redis-cli are not on PATH"
}

# ---------------------------------------------------------------- who runs PostgreSQL

# initdb and postgres refuse to run as root. As root we run them as a system
# user (normally `postgres`, created by the distribution package); otherwise as
# ourselves.
PG_USER=""
pick_pg_user() {
	if [ "$IS_ROOT" -eq 0 ]; then
		PG_USER=$(id -un)
		return
	fi
	[ "$OS" = Linux ] || die "do not run this script as root on $OS"
	command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is required when running as root"
	# A data folder initialised earlier by a non-root user keeps that owner.
	if [ -d "$PGDATA_DIR" ]; then
		local owner
		owner=$(stat -c %U "$PGDATA_DIR")
		if [ "$owner" != root ] && [ "$owner" != UNKNOWN ]; then
			PG_USER=$owner
			return
		fi
	fi
	id postgres >/dev/null 2>&1 ||
		die "running as root needs the 'postgres' system user (the postgresql package creates it); create it or run as a normal user"
	PG_USER=postgres
}

# as_pg runs a PostgreSQL tool as PG_USER. The cd keeps the tools from failing
# on a working directory PG_USER cannot enter.
as_pg() {
	if [ "$IS_ROOT" -eq 1 ]; then
		(cd / && runuser -u "$PG_USER" -- "$@")
	else
		"$@"
	fi
}

# prepare_pg_home makes $PG_HOME a directory PG_USER owns and can reach.
#
# As root, the repository may live somewhere the postgres user cannot traverse
# (for example /root/src/switchyard with /root at mode 0700). We do not loosen
# permissions on directories we do not own; instead the cluster then lives in
# /tmp/switchyard-<checksum of the repo path>/pg and .data/pg is a symlink to it,
# so every path the script and the user see stays the same. /tmp may be wiped
# at reboot: the next `start` notices the dangling symlink and initialises a new
# (empty) cluster, which is acceptable for a throwaway development database.
prepare_pg_home() {
	mkdir -p "$DATA"
	if [ "$IS_ROOT" -eq 0 ]; then
		mkdir -p "$PG_HOME"
		use_resolved_pg_home
		return
	fi
	# Our own folder: make sure others (postgres) may traverse it whatever the umask.
	chmod 755 "$DATA"
	if [ -L "$PG_HOME" ]; then
		local target
		target=$(readlink "$PG_HOME")
		if [ ! -d "$target" ]; then
			say "cluster directory $target is gone (reboot?); creating a new one"
			make_tmp_pg_home "$target"
		fi
		use_resolved_pg_home
		return
	fi
	mkdir -p "$PG_HOME"
	chown "$PG_USER" "$PG_HOME"
	if runuser -u "$PG_USER" -- test -w "$PG_HOME" -a -x "$PG_HOME" 2>/dev/null; then
		use_resolved_pg_home
		return
	fi
	# PG_USER cannot reach the repository: fall back to /tmp (see above).
	if [ -n "$(ls -A "$PG_HOME" 2>/dev/null)" ]; then
		die "$PG_HOME is not reachable by user $PG_USER and is not empty; move it away and rerun"
	fi
	rmdir "$PG_HOME"
	local sum
	sum=$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)
	local tmp_home="/tmp/switchyard-$sum/pg"
	say "user $PG_USER cannot traverse $REPO; keeping the cluster in $tmp_home (linked from .data/pg)"
	make_tmp_pg_home "$tmp_home"
	ln -s "$tmp_home" "$PG_HOME"
	use_resolved_pg_home
}

# use_resolved_pg_home points every PostgreSQL path at the real directory, since
# PG_USER may not be allowed to follow .data/pg through the repository.
use_resolved_pg_home() {
	if [ -d "$PG_HOME" ]; then
		PG_HOME=$(cd "$PG_HOME" && pwd -P)
		PGDATA_DIR="$PG_HOME/data"
		PG_LOG="$PG_HOME/postgres.log"
	fi
}

make_tmp_pg_home() {
	local home=$1 parent
	parent=$(dirname "$home")
	# /tmp is shared: refuse a parent that someone else planted for us.
	if [ -e "$parent" ] || [ -L "$parent" ]; then
		[ -d "$parent" ] && [ ! -L "$parent" ] && [ "$(stat -c %u "$parent")" = 0 ] ||
			die "$parent exists but is not a root-owned directory; remove it and rerun"
	else
		mkdir -m 755 "$parent"
	fi
	mkdir -p "$home"
	chown "$PG_USER" "$home"
	chmod 700 "$home"
}

# ---------------------------------------------------------------- PostgreSQL

pg_running() {
	[ -f "$PGDATA_DIR/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

pg_ready() {
	"$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

pg_locale() {
	# C.UTF-8 sorts bytewise like C but knows UTF-8 character classes; not every
	# platform (macOS) has it, and C is the safe fallback with UTF8 encoding.
	local utf8
	utf8=$( (locale -a 2>/dev/null || true) | grep -iE '^c\.utf-?8$' | head -n1 || true)
	echo "${utf8:-C}"
}

init_pg() {
	if [ -f "$PGDATA_DIR/PG_VERSION" ]; then
		return
	fi
	if [ -d "$PGDATA_DIR" ]; then
		# A half-written cluster from an interrupted initdb: it holds no data yet.
		say "removing incomplete cluster in $PGDATA_DIR"
		rm -rf "$PGDATA_DIR"
	fi
	say "initialising PostgreSQL cluster in $PGDATA_DIR ($("$PG_BIN/pg_ctl" --version))"
	# Superuser `postgres` whoever runs the cluster, so the admin commands below
	# do not depend on the login name.
	if ! as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 \
		--locale="$(pg_locale)" >"$PG_HOME/initdb.log" 2>&1; then
		tail -n 30 "$PG_HOME/initdb.log" >&2 || true
		die "initdb failed (full log: $PG_HOME/initdb.log)"
	fi
	# Trust only the local socket and 127.0.0.1: it is a development cluster on
	# loopback, and the app role still has a password for clients that send one.
	as_pg sh -c "cat > '$PGDATA_DIR/pg_hba.conf'" <<'EOF'
# Switchyard development cluster (scripts/services.sh): loopback only.
local   all          all                     trust
host    all          all     127.0.0.1/32    trust
local   replication  all                     trust
host    replication  all     127.0.0.1/32    trust
EOF
	as_pg sh -c "printf '\n%s\n' \"include_if_exists = 'switchyard.conf'\" >> '$PGDATA_DIR/postgresql.conf'"
}

# write_pg_conf is rerun on every start so port and socket follow the current
# environment and checkout path.
write_pg_conf() {
	local socket_dir
	socket_dir=$(cd "$PG_HOME" && pwd -P)
	# Unix socket paths are limited to ~107 bytes; deep checkouts go TCP-only
	# (every client here connects to 127.0.0.1 anyway).
	if [ $((${#socket_dir} + 16)) -ge 100 ]; then
		socket_dir=""
	fi
	as_pg sh -c "cat > '$PGDATA_DIR/switchyard.conf'" <<EOF
# Written by scripts/services.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$socket_dir'
max_connections = 300
timezone = 'UTC'
log_timezone = 'UTC'
# This cluster holds only development and test data that can be rebuilt with
# migrate + seed. Durability costs time on every commit and tests create and
# drop many databases, so crash safety is traded for speed. A crash may corrupt
# the cluster: delete .data/pg and start again.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_pg() {
	if pg_running; then
		if pg_ready; then
			say "PostgreSQL already running on $HOST:$PG_PORT"
			return
		fi
	elif pg_ready; then
		die "something else already answers on $HOST:$PG_PORT (another checkout's services?). Stop it (scripts/services.sh stop in that checkout) or set SWITCHYARD_PG_PORT"
	else
		init_pg
		write_pg_conf
		say "starting PostgreSQL on $HOST:$PG_PORT"
		# -W: do not let pg_ctl wait; we poll below with our own deadline and
		# a log tail on failure.
		# 9>&-: the server must not inherit the lock descriptor, or it would hold
		# the lock for as long as it runs.
		if ! as_pg "$PG_BIN/pg_ctl" start -W -D "$PGDATA_DIR" -l "$PG_LOG" -s >/dev/null 9>&-; then
			tail -n 30 "$PG_LOG" >&2 || true
			die "pg_ctl start failed (log: $PG_LOG)"
		fi
	fi
	local start=$SECONDS last=$SECONDS
	until pg_ready; do
		if [ $((SECONDS - start)) -ge "$DEADLINE_SECONDS" ]; then
			tail -n 30 "$PG_LOG" >&2 || true
			die "PostgreSQL did not become ready within ${DEADLINE_SECONDS}s (log: $PG_LOG)"
		fi
		if ! pg_running && [ $((SECONDS - start)) -ge 2 ]; then
			tail -n 30 "$PG_LOG" >&2 || true
			die "PostgreSQL exited during startup (log: $PG_LOG)"
		fi
		if [ $((SECONDS - last)) -ge 3 ]; then
			say "waiting for PostgreSQL ($((SECONDS - start))s)"
			last=$SECONDS
		fi
		sleep 0.2
	done
	say "PostgreSQL is ready"
}

psql_admin() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

ensure_app_role() {
	psql_admin <<EOF >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB NOSUPERUSER PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB NOSUPERUSER PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')
\gexec
EOF
	"$PG_BIN/psql" -X -q -h "$HOST" -p "$PG_PORT" "$(database_url)" -c 'select 1' >/dev/null ||
		die "cannot connect as $APP_USER to database $APP_DB"
	say "role and database '$APP_DB' are in place"
}

stop_pg() {
	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		say "PostgreSQL: no cluster, nothing to stop"
		return
	fi
	if pg_running; then
		say "stopping PostgreSQL"
		as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t "$DEADLINE_SECONDS" -s ||
			die "pg_ctl stop failed (log: $PG_LOG)"
	else
		say "PostgreSQL is not running"
	fi
}

# ---------------------------------------------------------------- Redis

redis_cli() { "$REDIS_CLI" -h "$HOST" -p "$REDIS_PORT" "$@"; }

redis_pid() {
	local pid
	[ -f "$REDIS_PID" ] || return 1
	pid=$(cat "$REDIS_PID" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

redis_ready() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

# redis_ours: the server answering on our port is the one whose pid we recorded.
redis_ours() {
	local pid served
	pid=$(redis_pid) || return 1
	served=$(redis_cli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id:\([0-9]*\)$/\1/p')
	[ "$served" = "$pid" ]
}

start_redis() {
	mkdir -p "$REDIS_DIR"
	if redis_ours; then
		say "Redis already running on $HOST:$REDIS_PORT"
		return
	fi
	if redis_ready; then
		die "something else already answers on $HOST:$REDIS_PORT (another checkout's services?). Stop it or set SWITCHYARD_REDIS_PORT"
	fi
	if pid=$(redis_pid); then
		die "Redis process $pid from $REDIS_PID is alive but does not answer on $HOST:$REDIS_PORT; see $REDIS_LOG"
	fi
	rm -f "$REDIS_PID"
	say "starting Redis on $HOST:$REDIS_PORT"
	# Redis is a broker here, never a store: no RDB snapshots, no AOF.
	"$REDIS_SERVER" --port "$REDIS_PORT" --bind "$HOST" --protected-mode yes \
		--save '' --appendonly no \
		--daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" 9>&- ||
		{ tail -n 30 "$REDIS_LOG" >&2 || true; die "redis-server failed to start (log: $REDIS_LOG)"; }
	local start=$SECONDS last=$SECONDS
	until redis_ready; do
		if [ $((SECONDS - start)) -ge "$DEADLINE_SECONDS" ]; then
			tail -n 30 "$REDIS_LOG" >&2 || true
			die "Redis did not answer PING within ${DEADLINE_SECONDS}s (log: $REDIS_LOG)"
		fi
		if [ $((SECONDS - last)) -ge 3 ]; then
			say "waiting for Redis ($((SECONDS - start))s)"
			last=$SECONDS
		fi
		sleep 0.1
	done
	say "Redis is ready"
}

stop_redis() {
	local pid
	if ! pid=$(redis_pid); then
		rm -f "$REDIS_PID"
		say "Redis is not running"
		return
	fi
	say "stopping Redis"
	if redis_ours; then
		redis_cli shutdown nosave >/dev/null 2>&1 || true
	else
		kill -TERM "$pid" 2>/dev/null || true
	fi
	local start=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		if [ $((SECONDS - start)) -ge "$DEADLINE_SECONDS" ]; then
			die "Redis (pid $pid) did not exit within ${DEADLINE_SECONDS}s"
		fi
		sleep 0.1
	done
	rm -f "$REDIS_PID"
}

# ---------------------------------------------------------------- commands

database_url() { echo "postgres://$APP_USER:$APP_PASSWORD@$HOST:$PG_PORT/$APP_DB?sslmode=disable"; }
redis_url() { echo "redis://$HOST:$REDIS_PORT/0"; }

# with_lock serialises start/stop between concurrent invocations (two `make test`
# runs, a developer and an editor plugin) so initdb, pg_ctl and the pidfiles are
# never raced.
with_lock() {
	mkdir -p "$DATA"
	local lock="$DATA/services.lock"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$lock"
		if ! flock -w 300 9; then
			die "timed out waiting for $lock (another services.sh is running)"
		fi
		"$@"
	else
		# macOS has no flock(1): an atomic mkdir is the lock.
		local start=$SECONDS
		until mkdir "$lock.d" 2>/dev/null; do
			local holder
			holder=$(cat "$lock.d/pid" 2>/dev/null || true)
			if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
				rm -rf "$lock.d"
				continue
			fi
			[ $((SECONDS - start)) -lt 300 ] || die "timed out waiting for $lock.d"
			sleep 0.2
		done
		echo $$ >"$lock.d/pid"
		trap 'rm -rf "$lock.d"' EXIT
		"$@"
	fi
}

cmd_start() {
	install_missing
	pick_pg_user
	prepare_pg_home
	start_pg
	ensure_app_role
	start_redis
	say "ready: DATABASE_URL=$(database_url) REDIS_URL=$(redis_url)"
}

cmd_stop() {
	if find_pg; then
		pick_pg_user
		use_resolved_pg_home
		stop_pg
	elif [ -f "$PGDATA_DIR/PG_VERSION" ]; then
		die "a cluster exists in $PGDATA_DIR but no PostgreSQL binaries were found to stop it"
	fi
	if find_redis; then
		stop_redis
	fi
}

cmd_status() {
	local ok=0
	if find_pg && pick_pg_user && use_resolved_pg_home && pg_running && pg_ready; then
		echo "postgresql: running on $HOST:$PG_PORT (data $PGDATA_DIR)"
	elif [ -n "$PG_BIN" ] && pg_running; then
		echo "postgresql: running (data $PGDATA_DIR) but not answering on $HOST:$PG_PORT (started with another SWITCHYARD_PG_PORT?)"
		ok=1
	elif [ -n "$PG_BIN" ] && pg_ready; then
		echo "postgresql: NOT OURS - another server answers on $HOST:$PG_PORT"
		ok=1
	else
		echo "postgresql: stopped"
		ok=1
	fi
	if find_redis && redis_ours; then
		echo "redis: running on $HOST:$REDIS_PORT (pid $(redis_pid))"
	elif [ -n "$REDIS_CLI" ] && redis_pid >/dev/null; then
		echo "redis: running (pid $(redis_pid)) but not answering on $HOST:$REDIS_PORT (started with another SWITCHYARD_REDIS_PORT?)"
		ok=1
	elif [ -n "$REDIS_CLI" ] && redis_ready; then
		echo "redis: NOT OURS - another server answers on $HOST:$REDIS_PORT"
		ok=1
	else
		echo "redis: stopped"
		ok=1
	fi
	return $ok
}

cmd_env() {
	echo "export DATABASE_URL=$(database_url)"
	echo "export REDIS_URL=$(redis_url)"
}

main() {
	local cmd=${1:-start}
	case "$cmd" in
	start) with_lock cmd_start ;;
	stop) with_lock cmd_stop ;;
	status) cmd_status ;;
	env) cmd_env ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
