#!/usr/bin/env bash
# A private ClickHouse server for the tests: own ports, own data directory.
#
#   scripts/services/clickhouse.sh start|stop|status
#
# start   installs Debian's clickhouse-server/-client when missing (as root),
#         writes the config under .services/clickhouse/, starts the server in
#         the background and waits until `SELECT 1` answers over HTTP.
# stop    terminates the server this script started and waits for it to exit.
# status  exit 0 when the server answers, 1 otherwise.
#
# Every command is idempotent. Ports follow the variables the tests read:
# TRACKER_CLICKHOUSE_PORT (native, 19000), TRACKER_CLICKHOUSE_HTTP_PORT (18123).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Config, data, logs and pid file; TRACKER_CLICKHOUSE_DIR moves them (e.g. to a
# tmpfs, see docs/PERFORMANCE.md) or runs a second server next to the first.
DIR="${TRACKER_CLICKHOUSE_DIR:-$ROOT/.services/clickhouse}"
TCP_PORT="${TRACKER_CLICKHOUSE_PORT:-19000}"
HTTP_PORT="${TRACKER_CLICKHOUSE_HTTP_PORT:-18123}"
START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
PIDFILE="$DIR/clickhouse-server.pid"
LOGDIR="$DIR/log"
CONSOLE="$LOGDIR/console.log"

say() { echo "clickhouse: $*"; }
fail() { echo "clickhouse: error: $*" >&2; exit 1; }

answers() {
    [ "$(curl -sf --max-time 2 "http://127.0.0.1:$HTTP_PORT/?query=SELECT%201" 2>/dev/null)" = "1" ]
}

# The pid of the server this script started, if it is still alive.
server_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(tr -dc '0-9' <"$PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid belonging to something else.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "clickhouse" || return 1
    echo "$pid"
}

install_packages() {
    if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null \
        && command -v curl >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || fail "clickhouse-server is not installed and installing needs root"
    say "installing clickhouse-server, clickhouse-client (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q clickhouse-server clickhouse-client curl
}

write_config() {
    mkdir -p "$DIR/data/data" "$DIR/tmp" "$DIR/user_files" "$DIR/format_schemas" "$LOGDIR"
    # Each database directory in a block group of its own (ext4's Orlov
    # allocator, the TOPDIR attribute). On ext4 without a journal, as on this
    # machine, creating a file scans past every inode deleted in its block
    # group in the last 1-6 minutes; the tests and benchmarks create and drop a
    # database of thousands of part files each, so back to back they slowed
    # the server down 2x (docs/PERFORMANCE.md). Elsewhere a harmless no-op.
    chattr +T "$DIR/data/data" 2>/dev/null || true
    cat >"$DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/services/clickhouse.sh; rewritten at every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$LOGDIR/clickhouse-server.log</log>
        <errorlog>$LOGDIR/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$TCP_PORT</tcp_port>
    <http_port>$HTTP_PORT</http_port>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <format_schema_path>$DIR/format_schemas/</format_schema_path>
    <users_config>$DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <!-- One shard, one replica: this server. Lets the tests create
         Distributed tables (tracker's sharded mode) without other nodes. -->
    <remote_servers>
        <tracker_test>
            <shard>
                <replica>
                    <host>127.0.0.1</host>
                    <port>$TCP_PORT</port>
                </replica>
            </shard>
        </tracker_test>
    </remote_servers>
    <macros>
        <shard>01</shard>
        <replica>127.0.0.1</replica>
    </macros>
</yandex>
EOF
    cat >"$DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

show_logs() {
    local file
    for file in "$CONSOLE" "$LOGDIR/clickhouse-server.err.log"; do
        if [ -s "$file" ]; then
            echo "---- last lines of $file" >&2
            tail -n 25 "$file" >&2
        fi
    done
}

start() {
    if server_pid >/dev/null && answers; then
        say "already running (pid $(server_pid)), tcp $TCP_PORT, http $HTTP_PORT"
        return
    fi
    if ! server_pid >/dev/null && answers; then
        say "a server not started by this script already answers on http port $HTTP_PORT; using it"
        return
    fi
    install_packages
    local began
    began=$(date +%s%N)
    if ! server_pid >/dev/null; then
        write_config
        # setsid: the server must outlive the shell (and the test run's
        # process group); it does not fork, so $! is the server's pid.
        setsid clickhouse-server --config-file="$DIR/config.xml" \
            </dev/null >"$CONSOLE" 2>&1 &
        echo $! >"$PIDFILE"
        say "starting (pid $!), tcp $TCP_PORT, http $HTTP_PORT, data $DIR"
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if ! server_pid >/dev/null; then
            show_logs
            fail "the server exited during start"
        fi
        if [ $SECONDS -ge $deadline ]; then
            show_logs
            stop_server
            fail "no answer to SELECT 1 on http://127.0.0.1:$HTTP_PORT within ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    say "ready after $((($(date +%s%N) - began) / 1000000)) ms"
}

stop_server() {
    local pid
    if ! pid=$(server_pid); then
        rm -f "$PIDFILE"
        say "not running"
        return
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            say "still running after 30s; killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
    done
    rm -f "$PIDFILE"
    say "stopped (pid $pid)"
}

status() {
    local pid
    if answers; then
        if pid=$(server_pid); then
            say "running (pid $pid), tcp $TCP_PORT, http $HTTP_PORT"
        else
            say "a server not started by this script answers on http port $HTTP_PORT"
        fi
        return 0
    fi
    if pid=$(server_pid); then
        say "pid $pid is up but does not answer on http port $HTTP_PORT"
    else
        say "stopped"
    fi
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop_server ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
