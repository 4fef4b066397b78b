#!/bin/sh
# pgchaos lab: systemctl for a lab node, where no systemd runs.
#
# It mimics Debian's units for patroni, etcd and haproxy closely enough for operators and
# runbooks: `stop` sends SIGTERM to the main PID only (KillMode=process, so Patroni stops
# PostgreSQL cleanly), waits up to 30 s (TimeoutSec=30), then sends SIGKILL; a service that
# dies stays dead (Restart=no). Debian 12's patroni.service actually says
# Restart=on-failure; the lab follows the project's reference behaviour (Restart=no) so a
# killed Patroni stays dead until started, which the fault scenarios rely on.
# The enabled state lives outside the node's /run so that it survives a reboot.
LAB_DIR='@LAB_DIR@'
PATRONI_BIN='@PATRONI_BIN@'
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
NODE=$(uname -n)
ENABLED="$LAB_DIR/nodes/$NODE/enabled"
RUN=/run/pgchaos-svc
STOP_TIMEOUT=300 # tenths of a second: TimeoutSec=30

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
            MATCH=patroni ;;
        etcd)
            DESC="etcd - highly-available key value store"
            RUN_AS=etcd; HOME_DIR=/var/lib/etcd
            LOG=/var/log/etcd/etcd.log
            CMD="/usr/bin/etcd"
            MATCH=etcd ;;
        haproxy)
            DESC="HAProxy Load Balancer"
            RUN_AS=root; HOME_DIR=/root
            LOG=/var/log/haproxy.log
            CMD="/usr/sbin/haproxy -db -f /etc/haproxy/haproxy.cfg"
            MATCH=haproxy ;;
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

start() {
    mainpid "$1" >/dev/null && return 0
    unit "$1"
    if [ "$1" = patroni ] && [ ! -f /etc/patroni/config.yml ]; then
        # ConditionPathExists=/etc/patroni/config.yml
        return 0
    fi
    mkdir -p "$RUN" "${LOG%/*}"
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
    echo $! > "$RUN/$1.pid"
}

stop() {
    pid=$(mainpid "$1") || { rm -f "$RUN/$1.pid"; return 0; }
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
    rm -f "$RUN/$1.pid"
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
    else
        echo "     Active: inactive (dead)"
        rc=3
    fi
    if [ -r "$LOG" ]; then echo; tail -n 10 "$LOG"; fi
    return $rc
}

verb=""; now=""; quiet=""; services=""
for a in "$@"; do
    case "$a" in
        --now) now=1 ;;
        -q|--quiet) quiet=1 ;;
        --no-pager|--no-block|-l|--full|--no-ask-password|--system) ;;
        -*) die "systemctl (pgchaos lab): unsupported option $a" ;;
        *) if [ -z "$verb" ]; then verb=$a; else services="$services ${a%.service}"; fi ;;
    esac
done

case "$verb" in
    reboot|poweroff|halt) exec "/usr/local/sbin/$verb" ;;
    daemon-reload) exit 0 ;;
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
        kill) pid=$(mainpid "$s") && kill -TERM "$pid" ;;
        status) status "$s" || rc=3 ;;
        is-active)
            if mainpid "$s" >/dev/null; then [ -n "$quiet" ] || echo active
            else [ -n "$quiet" ] || echo inactive; rc=3; fi ;;
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
