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
