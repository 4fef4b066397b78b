#!/bin/sh
# pgchaos lab: systemctl for a lab node, where no systemd runs.
#
# It mimics Debian's units for patroni, etcd, haproxy and pgbouncer closely enough for operators and
# runbooks: `stop` sends SIGTERM to the main PID only (KillMode=process, so Patroni stops
# PostgreSQL cleanly), waits up to 30 s (TimeoutSec=30), then sends SIGKILL.
# A service that dies by itself is started again after RestartSec=100ms (systemd's
# default) as its unit's Restart= says (Debian 12: patroni on-failure, etcd on-abnormal,
# haproxy always; `lab up --restart no` makes every one Restart=no), with systemd's
# default start limit (5 starts in 10 s). A supervisor process per service does that; its
# command line never names the service, so `pkill -f patroni` spares it, as it spares
# systemd. Runtime drop-ins (/run/systemd/system/UNIT.service.d/*.conf) may override
# Restart=; like systemd, a change only counts after `systemctl daemon-reload` (the
# settings are loaded at boot and at daemon-reload). `stop` never triggers a restart.
# The enabled state lives outside the node's /run so that it survives a reboot.
LAB_DIR='@LAB_DIR@'
PATRONI_BIN='@PATRONI_BIN@'
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
NODE=$(uname -n)
ENABLED="$LAB_DIR/nodes/$NODE/enabled"
RUN=/run/pgchaos-svc
STOP_TIMEOUT=300 # tenths of a second: TimeoutSec=30
RESTART_SEC=0.1  # systemd's default RestartSec
START_LIMIT_BURST=5 START_LIMIT_INTERVAL=10 # systemd's defaults
JOURNAL=/var/log/pgchaos-systemd.log # what systemd would say in its journal

# reboot, poweroff, halt and shutdown are symlinks to systemctl on Debian.
case "${0##*/}" in
    reboot|poweroff|halt|shutdown) exec "/usr/local/sbin/${0##*/}" "$@" ;;
esac

die() { echo "$*" >&2; exit 1; }

# unit NAME: sets DESC, RUN_AS, LOG, CMD for a known service; returns 1 otherwise.
unit() {
    case "$1" in
        patroni)
            DESC="Runners to orchestrate a high-availability PostgreSQL"
            RUN_AS=postgres; HOME_DIR=/var/lib/postgresql
            LOG=/var/log/patroni/patroni.log
            CMD="$PATRONI_BIN /etc/patroni/config.yml"
            UNIT_RESTART='@RESTART_PATRONI@'
            MATCH=patroni ;;
        etcd)
            DESC="etcd - highly-available key value store"
            RUN_AS=etcd; HOME_DIR=/var/lib/etcd
            LOG=/var/log/etcd/etcd.log
            CMD="/usr/bin/etcd"
            UNIT_RESTART='@RESTART_ETCD@'
            MATCH=etcd ;;
        haproxy)
            DESC="HAProxy Load Balancer"
            RUN_AS=root; HOME_DIR=/root
            LOG=/var/log/haproxy.log
            CMD="/usr/sbin/haproxy -db -f /etc/haproxy/haproxy.cfg"
            UNIT_RESTART='@RESTART_HAPROXY@'
            MATCH=haproxy ;;
        pgbouncer)
            # Debian 12's pgbouncer.service: User=postgres, no Restart=.
            DESC="connection pooler for PostgreSQL"
            RUN_AS=postgres; HOME_DIR=/var/lib/postgresql
            LOG=/var/log/postgresql/pgbouncer.stderr.log
            CMD="/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini"
            UNIT_RESTART=no
            MATCH=pgbouncer ;;
        *) return 1 ;;
    esac
}

# mainpid NAME: prints the main PID when the service runs.
mainpid() {
    [ -f "$RUN/$1.pid" ] || return 1
    pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
    alive "$pid" || return 1
    unit "$1"
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$MATCH" || return 1
    echo "$pid"
}

# alive PID: the process exists and is not a zombie.
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] && [ -n "$state" ]
}

journal() { echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) $*" >> "$JOURNAL" 2>/dev/null; }

# load NAME: computes the unit's Restart= from its unit and runtime drop-ins (lexical
# order, the last setting wins) into $RUN/NAME.restart, as daemon-reload does.
load() {
    unit "$1"
    r=$UNIT_RESTART
    for f in /run/systemd/system/"$1".service.d/*.conf; do
        [ -r "$f" ] || continue
        v=$(sed -n 's/^[[:space:]]*Restart[[:space:]]*=[[:space:]]*\([a-z-]*\).*$/\1/p' "$f" | tail -n 1)
        [ -n "$v" ] && r=$v
    done
    echo "$r" > "$RUN/$1.restart"
}

# restart_setting NAME: the loaded Restart= of the unit.
restart_setting() {
    [ -f "$RUN/$1.restart" ] || load "$1"
    cat "$RUN/$1.restart"
}

# should_restart SETTING STATUS: whether systemd restarts a main process that ended with
# STATUS (a shell status: 128+N for signal N). SIGHUP, SIGINT, SIGTERM and SIGPIPE are
# clean signals (systemd.service(5), Restart=).
should_restart() {
    clean=0; signal=0
    if [ "$2" -gt 128 ]; then
        signal=1
        case $(($2 - 128)) in 1|2|13|15) clean=1 ;; esac
    elif [ "$2" -eq 0 ]; then clean=1
    fi
    case "$1" in
        always) return 0 ;;
        on-failure) [ "$clean" = 0 ] ;;
        on-abnormal|on-abort) [ "$signal" = 1 ] && [ "$clean" = 0 ] ;;
        *) return 1 ;;
    esac
}

# launch NAME: starts the main process in the background ($! is its PID).
launch() {
    unit "$1"
    # A new session, a clean environment, the service's user: what systemd would give.
    # Neither setsid (not a group leader here) nor setpriv forks, so $! is the main PID.
    # A background job of a non-interactive shell ignores SIGINT and SIGQUIT (POSIX);
    # systemd starts services with default dispositions, so `env --default-signal`
    # restores them: otherwise Patroni would ignore the runbook's Ctrl+C (SIGINT).
    (
        cd / || exit 1
        if [ "$1" = etcd ] && [ -r /etc/default/etcd ]; then
            set -a; . /etc/default/etcd; set +a
        fi
        if [ "$RUN_AS" = root ]; then
            exec setsid env --default-signal=INT,QUIT PATH="$PATH" LANG=C.UTF-8 HOME="$HOME_DIR" \
                $(env | grep '^ETCD_') $CMD
        fi
        exec setsid setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups \
            env -i --default-signal=INT,QUIT PATH="$PATH" LANG=C.UTF-8 HOME="$HOME_DIR" USER="$RUN_AS" LOGNAME="$RUN_AS" \
            $(env | grep '^ETCD_') $CMD
    ) </dev/null >>"$LOG" 2>&1 &
}

# supervise: the service manager of one unit ($PGCHAOS_UNIT), started by `start`.
supervise() {
    s=$PGCHAOS_UNIT
    unit "$s" || exit 1
    starts=""
    n=0
    while :; do
        [ -e "$RUN/$s.stopping" ] && break
        now=$(date +%s)
        recent=""; count=0
        for t in $starts; do
            if [ $((now - t)) -lt "$START_LIMIT_INTERVAL" ]; then recent="$recent $t"; count=$((count + 1)); fi
        done
        if [ "$count" -ge "$START_LIMIT_BURST" ]; then
            journal "$s.service: Start request repeated too quickly."
            journal "$s.service: Failed with result 'start-limit-hit'."
            break
        fi
        starts="$recent $now"
        launch "$s"
        pid=$!
        echo "$pid" > "$RUN/$s.pid"
        wait "$pid"
        rc=$?
        [ -e "$RUN/$s.stopping" ] && break
        if [ "$rc" -gt 128 ]; then
            journal "$s.service: Main process exited, code=killed, status=$((rc - 128))/$(kill -l $((rc - 128)) 2>/dev/null)"
        else
            journal "$s.service: Main process exited, code=exited, status=$rc"
        fi
        setting=$(restart_setting "$s")
        should_restart "$setting" "$rc" || break
        sleep "$RESTART_SEC"
        [ -e "$RUN/$s.stopping" ] && break
        n=$((n + 1))
        echo "$n" > "$RUN/$s.nrestarts"
        journal "$s.service: Scheduled restart job, restart counter is at $n."
    done
    rm -f "$RUN/$s.pid" "$RUN/$s.sup"
}

# supervisor NAME: prints the supervisor's PID when it runs.
supervisor() {
    [ -f "$RUN/$1.sup" ] || return 1
    sp=$(cat "$RUN/$1.sup" 2>/dev/null) || return 1
    alive "$sp" || return 1
    tr '\0' ' ' < "/proc/$sp/cmdline" 2>/dev/null | grep -q __supervise || return 1
    echo "$sp"
}

start() {
    mainpid "$1" >/dev/null && return 0
    supervisor "$1" >/dev/null && return 0 # activating (auto-restart)
    unit "$1"
    if [ "$1" = patroni ] && [ ! -f /etc/patroni/config.yml ]; then
        # ConditionPathExists=/etc/patroni/config.yml
        return 0
    fi
    mkdir -p "$RUN" "${LOG%/*}"
    rm -f "$RUN/$1.stopping" "$RUN/$1.pid"
    [ -f "$RUN/$1.restart" ] || load "$1"
    ( PGCHAOS_UNIT=$1 exec setsid /bin/sh /usr/local/sbin/systemctl __supervise ) \
        </dev/null >/dev/null 2>&1 &
    echo $! > "$RUN/$1.sup"
    # systemd returns once the main process is forked.
    i=0
    while [ ! -s "$RUN/$1.pid" ] && [ "$i" -lt 50 ]; do sleep 0.02; i=$((i + 1)); done
}

stop() {
    mkdir -p "$RUN"
    : > "$RUN/$1.stopping"
    sp=$(supervisor "$1")
    pid=$(mainpid "$1") || { stopped "$1" "$sp"; return 0; }
    kill -TERM "$pid" 2>/dev/null
    i=0
    while alive "$pid"; do
        i=$((i + 1))
        if [ "$i" -ge "$STOP_TIMEOUT" ]; then
            echo "$1.service: State 'stop-sigterm' timed out. Killing." >&2
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep 0.1
    done
    stopped "$1" "$sp"
}

# stopped NAME SUPERVISOR_PID: waits for the supervisor to see the stop, then clears.
stopped() {
    i=0
    while [ -n "$2" ] && alive "$2" && [ "$i" -lt 50 ]; do sleep 0.02; i=$((i + 1)); done
    rm -f "$RUN/$1.pid" "$RUN/$1.sup" "$RUN/$1.stopping"
}

# show NAME: the properties asked with -p (default: a few).
show() {
    unit "$1"
    props=${props:-Restart NRestarts MainPID ActiveState}
    for p in $(echo "$props" | tr ',' ' '); do
        case "$p" in
            Restart) v=$(restart_setting "$1") ;;
            NRestarts) v=$(cat "$RUN/$1.nrestarts" 2>/dev/null || echo 0) ;;
            MainPID) v=$(mainpid "$1" || echo 0) ;;
            ActiveState)
                if mainpid "$1" >/dev/null; then v=active
                elif supervisor "$1" >/dev/null; then v=activating
                else v=inactive; fi ;;
            *) v="" ;;
        esac
        if [ -n "$value" ]; then echo "$v"; else echo "$p=$v"; fi
    done
}

is_enabled() { [ -f "$ENABLED/$1" ]; }

status() {
    unit "$1"
    if is_enabled "$1"; then en=enabled; else en=disabled; fi
    echo "* $1.service - $DESC"
    echo "     Loaded: loaded (/lib/systemd/system/$1.service; $en; preset: enabled)"
    if pid=$(mainpid "$1"); then
        echo "     Active: active (running)"
        echo "   Main PID: $pid (${MATCH})"
        rc=0
    elif supervisor "$1" >/dev/null; then
        echo "     Active: activating (auto-restart)"
        rc=3
    else
        echo "     Active: inactive (dead)"
        rc=3
    fi
    if [ -r "$LOG" ]; then echo; tail -n 10 "$LOG"; fi
    return $rc
}

[ "$1" = __supervise ] && { supervise; exit 0; }

verb=""; now=""; quiet=""; services=""; props=""; value=""; want_prop=""
for a in "$@"; do
    if [ -n "$want_prop" ]; then props="$props $a"; want_prop=""; continue; fi
    case "$a" in
        --now) now=1 ;;
        -p|--property) want_prop=1 ;;
        --property=*) props="$props ${a#--property=}" ;;
        -P) want_prop=1; value=1 ;;
        --value) value=1 ;;
        -q|--quiet) quiet=1 ;;
        --no-pager|--no-block|-l|--full|--no-ask-password|--system) ;;
        -*) die "systemctl (pgchaos lab): unsupported option $a" ;;
        *) if [ -z "$verb" ]; then verb=$a; else services="$services ${a%.service}"; fi ;;
    esac
done

case "$verb" in
    reboot|poweroff|halt) exec "/usr/local/sbin/$verb" ;;
    daemon-reload)
        mkdir -p "$RUN"
        for s in patroni etcd haproxy pgbouncer; do load "$s"; done
        exit 0 ;;
    "") die "systemctl (pgchaos lab): a command is required" ;;
esac
[ -n "$services" ] || die "Too few arguments."

rc=0
for s in $services; do
    if ! unit "$s"; then
        echo "Unit $s.service could not be found." >&2
        [ "$verb" = is-active ] && { echo inactive; rc=3; continue; }
        exit 5
    fi
    case "$verb" in
        start) start "$s" ;;
        stop) stop "$s" ;;
        restart) stop "$s"; start "$s" ;;
        try-restart) if mainpid "$s" >/dev/null; then stop "$s"; start "$s"; fi ;;
        reload) pid=$(mainpid "$s") && kill -HUP "$pid" || { echo "$s.service is not active, cannot reload." >&2; rc=1; } ;;
        kill) pid=$(mainpid "$s") && kill -TERM "$pid" ;; # the unit's Restart= applies
        status) status "$s" || rc=3 ;;
        is-active)
            if mainpid "$s" >/dev/null; then [ -n "$quiet" ] || echo active
            elif supervisor "$s" >/dev/null; then [ -n "$quiet" ] || echo activating; rc=3
            else [ -n "$quiet" ] || echo inactive; rc=3; fi ;;
        show) show "$s" ;;
        is-enabled)
            if is_enabled "$s"; then [ -n "$quiet" ] || echo enabled
            else [ -n "$quiet" ] || echo disabled; rc=1; fi ;;
        enable)
            mkdir -p "$ENABLED" && touch "$ENABLED/$s"
            [ -n "$now" ] && start "$s" ;;
        disable)
            rm -f "$ENABLED/$s"
            [ -n "$now" ] && stop "$s" ;;
        *) die "systemctl (pgchaos lab): unsupported command $verb" ;;
    esac
done
exit $rc
