#!/usr/bin/env bash
# fleetlr triage collection for Linux servers.
#
# Usage: collect-triage.sh OUT_FILE [JOURNAL_DAYS]
#   collect-triage.sh /tmp/fleetlr-triage-42.tar.gz 2
#
# Used by playbooks/fleet-triage-linux.yaml. Gathers host facts, processes, sockets, logins,
# users and sudoers, cron and systemd persistence, SSH authorized keys and the last
# JOURNAL_DAYS days of the journal into a staging directory, packs it into OUT_FILE and removes
# the staging directory. Each collector is independent: a missing tool or file is recorded in
# errors.txt and the rest still run. Exits non-zero only if OUT_FILE cannot be written, so the
# GetFile step that follows fails cleanly.
set -u
out_file="${1:?usage: collect-triage.sh OUT_FILE [JOURNAL_DAYS]}"
journal_days="${2:-2}"
case "$journal_days" in ''|*[!0-9]*) echo "JOURNAL_DAYS must be a whole number" >&2; exit 2 ;; esac

stage="$(mktemp -d /tmp/fleetlr-triage.XXXXXX)"
trap 'rm -rf "$stage"' EXIT

collect() { # collect NAME COMMAND...: run COMMAND, keep its output as NAME, note failures
    local name="$1"; shift
    if ! "$@" >"$stage/$name" 2>&1; then
        echo "$name: '$*' failed" >>"$stage/errors.txt"
    fi
}

collect host.txt        sh -c 'hostname; uname -a; cat /etc/os-release; uptime; date -u'
collect processes.txt   ps auxwwf
collect sockets.txt     ss -tunap
collect logins.txt      sh -c 'who; echo; last -n 200 -F'
collect passwd.txt      cat /etc/passwd
collect sudoers.txt     sh -c 'cat /etc/sudoers; cat /etc/sudoers.d/* 2>/dev/null'
collect cron.txt        sh -c 'ls -la /etc/cron.* /var/spool/cron 2>/dev/null; cat /etc/crontab; for f in /var/spool/cron/crontabs/* /var/spool/cron/*; do [ -f "$f" ] && echo "== $f" && cat "$f"; done'
collect systemd.txt     systemctl list-unit-files --type=service --type=timer --no-pager
collect authorized_keys.txt sh -c 'for d in /root /home/*; do f="$d/.ssh/authorized_keys"; [ -f "$f" ] && echo "== $f" && cat "$f"; done; true'
collect journal.txt     journalctl --no-pager --since "-${journal_days}d" -o short-iso

if ! tar -czf "$out_file" -C "$stage" .; then
    echo "cannot write $out_file" >&2
    exit 1
fi
echo "triage bundle $out_file ($(stat -c %s "$out_file") bytes)"
