#!/bin/bash
# The SIGKILL fault loop, run inside a test host by tests/faults.rs (one `testhost exec`
# instead of hundreds). Usage, from /root/faults:
#   faults.sh apply a|b            one apply with that variable set; prints "rc seconds"
#   faults.sh snapshot a|b         the managed state, saved as expect-a|b.txt
#   faults.sh pair                 two runs at once; the one that holds the lock killed mid-run
#   faults.sh loop DELAYS_FILE     the kill loop: one line of input per kill:
#                                  "<iteration> <group|agent> <fraction of a run>"
#                                  and RUN_SECONDS in the environment
# Prints one "iter ..." line per kill and leaves logs in /root/faults/logs/.
set -u
cd /root/faults || exit 99
AGENT=${AGENT:-/usr/local/bin/agent}
LOCK=/run/agent/agent.lock
STATE_DIR=/var/lib/agent
mkdir -p logs

FILES="/etc/faults/app.conf /etc/faults/static.bin /etc/faults/block.conf /etc/systemd/system/faults.service"
for i in alpha beta gamma delta epsilon; do FILES="$FILES /etc/faults/lines-$i.conf"; done
for i in $(seq 1 20); do FILES="$FILES /etc/faults/part-$i.conf"; done

# One line per managed file: path sha256 mode owner group; then the user's passwd line.
state() {
    {
        sha256sum $FILES 2>/dev/null | sed 's/^/H /'
        stat -c 'S %n %a %U %G' $FILES 2>/dev/null
    } | awk '$1 == "H" { h[$3] = $2 } $1 == "S" { s[$2] = $3 " " $4 " " $5 }
             END { n = split(ENVIRON["FILES"], f, " ");
                   for (i = 1; i <= n; i++) {
                       p = f[i]; if (!(p in h) || !(p in s)) print p " missing"; else print p " " h[p] " " s[p] } }'
    echo "passwd $(getent passwd faultuser)"
}
export FILES

# Is a process of process group $1 still running? (No procps in the image.)
group_alive() {
    local s line rest f
    for s in /proc/[0-9]*/stat; do
        read -r line <"$s" 2>/dev/null || continue
        rest=${line##*) }
        read -r -a f <<<"$rest"
        [ "${f[2]}" = "$1" ] && [ "${f[0]}" != Z ] && return 0
    done
    return 1
}

run_apply() { # set -> exit code
    "$AGENT" apply play.yml -e "@vars-$1.yml" >"logs/apply-$1.log" 2>&1
}

# Lines of the current state that are neither set's.
partial_lines() {
    state | awk 'FNR == NR { ok[$0] = 1; next } !($0 in ok)' <(cat expect-a.txt expect-b.txt) -
}

# Temporary files of the agent left since the loop started (must be gone after the next
# run), and leftovers of a killed useradd/userdel/groupadd... (shadow-utils: lock files
# naming a dead PID, `+` files; the next shadow-utils command takes them over).
temp_files() {
    all_temp_files | comm -13 temps-baseline.txt - | grep -v -e '\.lock$' -e '+$' -e '\.[0-9]*$'
}

shadow_files() {
    all_temp_files | comm -13 temps-baseline.txt - | grep -e '\.lock$' -e '+$' -e '\.[0-9]*$'
}

all_temp_files() {
    find /etc /var/lib/agent /root/faults -xdev \( -name '.ansible_tmp*' -o -name '.agent-backup.*' \
        -o -name '.last_run.json.*' -o -name '.tmp-*' -o -name '*.lock' -o -name 'passwd+' \
        -o -name 'shadow+' -o -name 'group+' -o -name 'gshadow+' -o -name 'subuid+' -o -name 'subgid+' \
        -o -name 'passwd.[0-9]*' -o -name 'group.[0-9]*' -o -name 'shadow.[0-9]*' -o -name 'gshadow.[0-9]*' \
        -o -name 'subuid.[0-9]*' -o -name 'subgid.[0-9]*' \) 2>/dev/null | sort
}

# "ok", or "BAD:" and what pwck/grpck/subordinate ids say that neither converged state has.
accounts_state() {
    local extra
    extra=$(accounts_check | awk 'FNR == NR { ok[$0] = 1; next } !($0 in ok)' \
        <(cat accounts-a.txt accounts-b.txt) -)
    if [ -z "$extra" ]; then echo ok; else echo "BAD:$(printf '%s' "$extra" | tr '\n' ';' | tr ' ' '_')"; fi
}

# The output of pwck/grpck, normalised; compared with the converged states' output.
accounts_check() {
    {
        pwck -r; echo "pwck rc=$?"; grpck -r; echo "grpck rc=$?"
        # Subordinate ids of users that do not exist (userdel removes them last).
        cut -d: -f1 /etc/subuid /etc/subgid | sort -u | while read -r u; do
            getent passwd "$u" >/dev/null || echo "subordinate ids of a removed user: $u"
        done
    } 2>&1 | sort
}

# After a kill: the state checks, then a converging apply and a check. One line of
# key=value fields.
after_kill() { # target-set tag
    local target=$1 tag=$2 converge_err crc2 partial npartial temps ntemps shadow shadow_after acc acc_after lock report crc after ntemps_after chrc
    partial=$(partial_lines)
    npartial=$(printf '%s' "$partial" | grep -c .)
    partial=$(printf '%s' "$partial" | tr '\n' ';' | tr ' ' '_')
    temps=$(temp_files)
    ntemps=$(printf '%s' "$temps" | grep -c .)
    shadow=$(shadow_files | tr '\n' ',')
    acc=$(accounts_state)
    lock=free
    flock -n "$LOCK" true || lock=HELD
    report=none
    if [ -e "$STATE_DIR/last_run.json" ]; then
        if [ -s "$STATE_DIR/last_run.json" ] && [ "$(tail -c 2 "$STATE_DIR/last_run.json")" = "}" ]; then
            report=whole
        else
            report=PARTIAL
        fi
    fi
    run_apply "$target"; crc=$?
    cp "logs/apply-$target.log" "logs/converge-$tag.log"
    # Rare (about 1 kill in 50 to 1,500): a group kill inside `useradd -m` leaves the home
    # owned by root, and the next `userdel -r` (set b) exits 12 "not owned by faulttmp", as
    # under Ansible (docs/reliability.md). The error is printed; the run after must converge.
    crc2=$crc
    if [ "$crc" != 0 ]; then
        run_apply "$target"; crc2=$?
        cp "logs/apply-$target.log" "logs/converge2-$tag.log"
    fi
    after=$(state | awk 'FNR == NR { ok[$0] = 1; next } !($0 in ok)' "expect-$target.txt" - | grep -c .)
    ntemps_after=$(temp_files | grep -c .)
    shadow_after=$(shadow_files | tr '\n' ',')
    converge_err=
    [ "$crc" = 0 ] || converge_err=$(grep -m1 -e '^fatal' -e '^ERROR' "logs/converge-$tag.log" | cut -c1-400 | tr ' ' '_')
    "$AGENT" check play.yml -e "@vars-$target.yml" >"logs/check-$tag.log" 2>&1; chrc=$?
    acc_after=$(accounts_state)
    if [ "$acc_after" != ok ]; then
        # A shadow-utils command killed in the middle left the account files inconsistent
        # (reported); start the next kill from a clean state: the files of the converged
        # set b (no faulttmp, no faultgrp), then the target again.
        cp -a accounts-files-b/* /etc/
        rm -rf /home/faulttmp /var/mail/faulttmp /etc/*.lock
        run_apply "$target" >/dev/null
    fi
    echo "partial=$npartial temps=$ntemps temps_after=$ntemps_after accounts=$acc accounts_after=$acc_after lock=$lock report=$report converge_rc=$crc2 first_converge_rc=$crc converge_diff=$after check_rc=$chrc shadow=$shadow shadow_after=$shadow_after partial_lines=$partial temp_files=$(echo $temps | tr ' ' ',') converge_err=$converge_err"
}

case "${1:-}" in
apply)
    t0=$(date +%s.%N)
    run_apply "$2"; rc=$?
    t1=$(date +%s.%N)
    echo "$rc $(awk "BEGIN { print $t1 - $t0 }")"
    ;;
snapshot)
    state > "expect-$2.txt"
    accounts_check > "accounts-$2.txt"
    mkdir -p "accounts-files-$2"
    cp -a /etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/subuid /etc/subgid "accounts-files-$2/"
    cat "expect-$2.txt"
    ;;
loop)
    : "${RUN_SECONDS:?}"
    all_temp_files > temps-baseline.txt
    while read -r iter mode frac; do
        target=$([ $((iter % 2)) -eq 0 ] && echo a || echo b)
        delay=$(awk "BEGIN { printf \"%.3f\", $frac * $RUN_SECONDS }")
        # Its own session and process group, as under systemd: kill the agent alone, or
        # the whole group (the agent and any useradd, systemctl... it is running), as
        # systemd's KillMode=control-group does.
        setsid "$AGENT" apply play.yml -e "@vars-$target.yml" >"logs/killed-$iter.log" 2>&1 &
        pid=$!
        sleep "$delay"
        if [ "$mode" = group ]; then kill -9 -- "-$pid" 2>/dev/null; else kill -9 "$pid" 2>/dev/null; fi
        wait "$pid"; krc=$?
        # Children left running by a kill of the agent alone finish on their own.
        for _ in $(seq 1 200); do
            group_alive "$pid" || break
            sleep 0.05
        done
        echo "iter $iter mode=$mode delay=$delay killed_rc=$krc $(after_kill "$target" "$iter")"
    done < "$2"
    ;;
pair)
    # Two runs at once: one takes the lock, the other exits 3 at once; the one that holds
    # the lock is killed (with its process group) while it sits in the task `pause`, in the
    # middle of a run that changes files. The target is the set the host is not in.
    if state | cmp -s - expect-a.txt; then target=b; else target=a; fi
    all_temp_files > temps-baseline.txt
    setsid "$AGENT" apply play.yml -e "@vars-$target.yml" -e faults_pause=true >logs/pair-1.log 2>&1 &
    p1=$!
    setsid "$AGENT" apply play.yml -e "@vars-$target.yml" -e faults_pause=true >logs/pair-2.log 2>&1 &
    p2=$!
    for _ in $(seq 1 400); do
        grep -qs 'TASK \[pause\]' logs/pair-1.log logs/pair-2.log &&
            grep -qs 'another agent run holds the lock' logs/pair-1.log logs/pair-2.log && break
        sleep 0.025
    done
    kill -9 -- "-$p1" 2>/dev/null
    kill -9 -- "-$p2" 2>/dev/null
    wait "$p1"; r1=$?
    wait "$p2"; r2=$?
    for _ in $(seq 1 200); do
        group_alive "$p1" || group_alive "$p2" || break
        sleep 0.05
    done
    echo "pair mode=group target=$target rc1=$r1 rc2=$r2 $(after_kill "$target" pair)"
    grep -h 'another agent run holds the lock' logs/pair-1.log logs/pair-2.log
    ;;
leftovers)
    # After the loop and two more runs: shadow-utils' stale locks must have been taken over
    # (its `file.PID` link sources are never removed by anyone: listed apart).
    shadow_files | grep -v '\.[0-9]*$'
    ;;
*)
    echo "usage: $0 apply|snapshot|loop ..." >&2
    exit 2
    ;;
esac
