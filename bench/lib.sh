# Shell helpers shared by bench/run.sh and bench/versus.sh (sourced).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_up URL PID LOG: polls URL until it answers 2xx, for up to 30 s; exits
# with LOG on stderr if process PID dies first, and fails if it never answers.
wait_up() {
  local url=$1 pid=$2 logfile=$3
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "$url"
}

# Linux's autogroup scheduling (kernel.sched_autogroup_enabled = 1) shares
# the CPU fairly between sessions rather than between processes, and every
# PostgreSQL backend starts a session of its own (setsid). Under full load on
# this 2-core VM, runnable backends then waited 0.1 to 6 s for a CPU, with
# the queries pipelined on them (bench/README.md, "The tail was the kernel's
# scheduler"). A host that runs PostgreSQL should have it off (README,
# Operations); these scripts turn it off for their run, when it is on and
# they may, and put it back when they exit.
#
# autogroup_off KEEP: unless KEEP is 1, turns autogroup off; AUTOGROUP says
# what the run had, for the report.
AUTOGROUP_FILE=/proc/sys/kernel/sched_autogroup_enabled
AUTOGROUP=absent
AUTOGROUP_RESTORE=0
autogroup_off() {
  [ -r "$AUTOGROUP_FILE" ] || return 0
  local was
  was=$(cat "$AUTOGROUP_FILE")
  if [ "$was" != 1 ]; then
    AUTOGROUP=$([ "$was" = 0 ] && echo off || echo "$was")
  elif [ "$1" = 1 ]; then
    AUTOGROUP="on (--keep-autogroup)"
  elif echo 0 2>/dev/null > "$AUTOGROUP_FILE"; then
    AUTOGROUP_RESTORE=1
    AUTOGROUP="off for this run (the host had it on; restored after)"
  else
    AUTOGROUP="on (turning it off needs root)"
  fi
}
# Puts autogroup back as the host had it; safe to call more than once.
autogroup_restore() {
  if [ "$AUTOGROUP_RESTORE" = 1 ]; then
    echo 1 > "$AUTOGROUP_FILE" || true
    AUTOGROUP_RESTORE=0
  fi
}
