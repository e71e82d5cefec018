#!/usr/bin/env bash
# Checks the Dockerfile without a container engine: replays its stages in
# Debian roots made with debootstrap, then runs the image's command in the
# runtime root the way `docker run` would and checks that it serves.
#
#   bash .ci/container.sh [runtime]   the runtime stage only, with the release
#                                     binary from target/release (built when
#                                     missing); fast, for every CI run
#   bash .ci/container.sh build       every stage in order, the build stage
#                                     with this machine's Rust toolchain, then
#                                     the runtime check on the binary it built;
#                                     slow, on demand
#
# Options: -e NAME=VALUE   extra environment for the container (docker run -e),
#                          repeatable; JWT_SECRET gets a test value unless given
#          --keep          keep the replay's roots (the path is printed)
#          --verbose       show every RUN's output (the default in build mode;
#                          runtime mode shows it only when a step fails)
#          --quiet         the opposite
#
# Everything the replay does comes from the Dockerfile itself: base images,
# RUN commands (run as written, apt-get and all), COPY sources (with
# .dockerignore), ENV, USER, WORKDIR, HEALTHCHECK, ENTRYPOINT and CMD. An
# instruction or flag the parser does not know stops the script, so the replay
# cannot silently drift from the file. What it emulates:
#
#   debian:<suite>-slim         a `debootstrap --variant=minbase <suite>` root
#                               with the image's apt sources (updates, security)
#   rust:<version>-slim-<suite> the same plus what that image adds (ca-certificates
#                               gcc libc6-dev, its ENV) and this machine's
#                               toolchain of that version, mounted read-only as
#                               the image's only toolchain; crates come from
#                               this machine's cargo cache through an overlay
#                               (nothing is written back), else crates.io
#   RUN                         /bin/sh -c in a chroot, in new PID and mount
#                               namespaces (the command is PID 1), with a
#                               Docker-like /dev, /proc, read-only /sys; the
#                               network is the host's
#   docker run                  the same, as the image's USER, in its WORKDIR,
#                               with its ENV; BIND is moved to 127.0.0.1 on a
#                               free port (the host's network is shared)
#
# The debootstrapped base roots are cached in $FAVORITES_CONTAINER_CACHE
# (default: $XDG_CACHE_HOME/favorites-container if XDG_CACHE_HOME is set, else
# /var/cache/favorites-container); delete that directory to bootstrap afresh.
# Every replay copies the base into a new root, so one run cannot influence
# the next; only downloaded .deb files are shared (apt checks their hashes).
#
# Runs as root. The whole script runs in a mount namespace of its own, so no
# mount outlives it even if it is killed; the exit trap still unmounts and
# removes everything it made.
set -euo pipefail

SELF="$(readlink -f "$0")"
ROOT_DIR="$(cd "$(dirname "$SELF")/.." && pwd)"
DOCKERFILE="$ROOT_DIR/Dockerfile"
MIRROR="http://deb.debian.org/debian"
SECURITY_MIRROR="http://deb.debian.org/debian-security"
ARCH=amd64

log() { printf '[container.sh] %s\n' "$*" >&2; }
die() {
    printf 'FAIL %s\n' "$*"
    exit 1
}
pass() { printf 'PASS %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || {
    echo "FAIL must run as root (debootstrap, chroot, mounts)"
    exit 1
}
# A private mount namespace for the whole run: every mount below disappears
# with this process, whatever happens to it.
if [[ -z "${FAVORITES_CONTAINER_NS:-}" ]]; then
    exec env FAVORITES_CONTAINER_NS=1 unshare --mount --propagation private -- bash "$SELF" "$@"
fi

MODE=runtime
KEEP=0
VERBOSE=""
EXTRA_ENV=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    runtime | build) MODE="$1" ;;
    --keep) KEEP=1 ;;
    --verbose) VERBOSE=1 ;;
    --quiet) VERBOSE=0 ;;
    -e)
        [[ $# -ge 2 && "$2" == *=* ]] || die "usage: -e NAME=VALUE"
        EXTRA_ENV+=("$2")
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (usage: $0 [runtime|build] [--keep] [--verbose|--quiet] [-e NAME=VALUE]...)" ;;
    esac
    shift
done
# RUN output: shown as it comes in build mode, only on failure in runtime mode.
if [[ -z "$VERBOSE" ]]; then
    [[ "$MODE" == build ]] && VERBOSE=1 || VERBOSE=0
fi

[[ -f "$DOCKERFILE" ]] || die "no Dockerfile at $DOCKERFILE"
command -v python3 >/dev/null || die "python3 is needed"
export DOCKERFILE

if [[ -n "${FAVORITES_CONTAINER_CACHE:-}" ]]; then
    CACHE="$FAVORITES_CONTAINER_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    CACHE="$XDG_CACHE_HOME/favorites-container"
else
    CACHE=/var/cache/favorites-container
fi
mkdir -p "$CACHE/base" "$CACHE/runs" "$CACHE/apt-archives"

STARTED=$(date +%s)
elapsed() { echo "$(($(date +%s) - STARTED)) s"; }

# --- The Dockerfile parser and the step runner (Python, standard library) ---
IFS= read -r -d '' PYCODE <<'PY' || true
import ctypes, json, os, re, select, shlex, shutil, signal, stat, sys

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FLAGS = {"FROM": set(), "RUN": set(), "COPY": {"from"}, "HEALTHCHECK":
         {"interval", "timeout", "start-period", "start-interval", "retries"}}
META = {"ENV", "USER", "LABEL", "EXPOSE", "VOLUME", "HEALTHCHECK", "ENTRYPOINT", "CMD"}


def fail(message):
    sys.stderr.write(f"FAIL Dockerfile: {message}\n")
    sys.exit(2)


def logical_lines(text):
    """(line number, instruction text) with continuations joined and comments dropped."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$", lines[i])
        if not m:
            break
        if m.group(1).lower() != "syntax":
            fail(f"line {i + 1}: parser directive '{m.group(1)}' not understood")
        i += 1
    out, current, start = [], None, 0
    for n in range(i, len(lines)):
        line = lines[n]
        if line.strip().startswith("#") or (not line.strip()):
            continue  # comments and blank lines, also inside a continued instruction
        if current is None:
            current, start = "", n + 1
        if re.search(r"\\\s*$", line):
            current += re.sub(r"\\\s*$", "", line)
            continue
        out.append((start, (current + line).strip()))
        current = None
    if current is not None:
        fail("the file ends inside a continued line")
    return out


def split_flags(keyword, args, where):
    flags = {}
    while args.startswith("--"):
        m = re.match(r"--([a-z-]+)=(\S+)\s*(.*)$", args, re.S)
        if not m or m.group(1) not in FLAGS.get(keyword, set()):
            fail(f"{where}: {keyword} flag '{args.split()[0]}' not understood")
        flags[m.group(1)] = m.group(2)
        args = m.group(3)
    return flags, args


def command_form(args, where):
    """Exec form (a JSON array) as is; shell form through /bin/sh -c."""
    if args.startswith("["):
        try:
            argv = json.loads(args)
        except ValueError:
            fail(f"{where}: '{args}' looks like exec form but is not a JSON array")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            fail(f"{where}: exec form must be a JSON array of strings")
        return argv, None
    return ["/bin/sh", "-c", args], args


def no_variables(value, where):
    if "$" in value:
        fail(f"{where}: variable substitution ('{value}') is not supported by the replay")


def base_image(ref, where):
    ref = re.sub(r"^(docker\.io/)?(library/)?", "", ref)
    m = re.fullmatch(r"debian:([a-z]+)(-slim)?", ref)
    if m:
        return {"kind": "debian", "suite": m.group(1), "rust": "",
                "env": {"PATH": DEFAULT_PATH}, "cmd": ["bash"]}
    m = re.fullmatch(r"rust:(\d+\.\d+(?:\.\d+)?)-slim-([a-z]+)", ref)
    if m:
        version = os.environ.get("REPLAY_RUST_VERSION") or m.group(1)
        return {"kind": "rust", "suite": m.group(2), "rust": m.group(1),
                "env": {"PATH": "/usr/local/cargo/bin:" + DEFAULT_PATH,
                        "RUSTUP_HOME": "/usr/local/rustup", "CARGO_HOME": "/usr/local/cargo",
                        "RUST_VERSION": version},
                "cmd": ["bash"]}
    fail(f"{where}: base image '{ref}' not understood (debian:<suite>[-slim] or rust:<version>-slim-<suite>)")


def apt_packages(shell_text):
    """Package names given to `apt-get install` / `apt install` in a RUN line."""
    lexer = shlex.shlex(shell_text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    packages, i = [], 0
    while i < len(tokens):
        if tokens[i] in ("apt-get", "apt"):
            j = i + 1
            while j < len(tokens) and tokens[j].startswith("-"):
                j += 2 if tokens[j] in ("-o", "-t", "-c") else 1
            if j < len(tokens) and tokens[j] == "install":
                j += 1
                while j < len(tokens) and not re.fullmatch(r"[;&|()]+", tokens[j]):
                    word = tokens[j]
                    if word in ("-o", "-t", "-c"):
                        j += 2
                        continue
                    if not word.startswith("-"):
                        packages.append(re.split(r"[=:]", word)[0])
                    j += 1
            i = j
        else:
            i += 1
    return packages


def parse(path):
    stages = []
    for number, text in logical_lines(open(path).read()):
        where = f"line {number}"
        m = re.match(r"(\S+)\s*(.*)$", text, re.S)
        keyword, args = m.group(1).upper(), m.group(2).strip()
        if keyword == "FROM":
            flags, args = split_flags(keyword, args, where)
            m = re.fullmatch(r"(\S+)(?:\s+[Aa][Ss]\s+([A-Za-z0-9][A-Za-z0-9_.-]*))?", args)
            if not m:
                fail(f"{where}: FROM '{args}' not understood")
            if any(s["name"] == m.group(1) for s in stages):
                fail(f"{where}: FROM an earlier stage is not supported by the replay")
            image = base_image(m.group(1), where)
            name = m.group(2) or str(len(stages))
            stages.append({"name": name, "image": m.group(1), "kind": image["kind"],
                           "suite": image["suite"], "rust": image["rust"],
                           "env": dict(image["env"]), "user": "root", "workdir": "/",
                           "entrypoint": [], "cmd": image["cmd"], "healthcheck": None,
                           "health_timeout": 30, "expose": [], "volumes": [],
                           "packages": [], "copy_from": [], "steps": []})
            continue
        if not stages:
            fail(f"{where}: {keyword} before the first FROM")
        stage = stages[-1]
        step = {"line": number, "keyword": keyword, "text": text}
        if keyword == "RUN":
            flags, args = split_flags(keyword, args, where)
            step["argv"], shell = command_form(args, where)
            if shell:
                stage["packages"] += apt_packages(shell)
        elif keyword == "COPY":
            flags, args = split_flags(keyword, args, where)
            if args.startswith("["):
                words, _ = command_form(args, where)
            else:
                words = shlex.split(args)
            if len(words) < 2:
                fail(f"{where}: COPY needs a source and a destination")
            for word in words:
                no_variables(word, where)
                if re.search(r"[*?\[]", word):
                    fail(f"{where}: wildcards in COPY ('{word}') are not supported by the replay")
            step["sources"], step["dest"] = words[:-1], words[-1]
            step["from"] = flags.get("from")
            if step["from"] is not None:
                if not any(s["name"] == step["from"] for s in stages[:-1]):
                    fail(f"{where}: COPY --from={step['from']} names no earlier stage")
                stage["copy_from"].append(step["from"])
        elif keyword == "WORKDIR":
            no_variables(args, where)
            stage["workdir"] = os.path.normpath(os.path.join(stage["workdir"], args))
            step["path"] = stage["workdir"]
        elif keyword == "ENV":
            no_variables(args, where)
            words = shlex.split(args)
            if words and "=" not in words[0]:
                words = [words[0] + "=" + " ".join(words[1:])]  # legacy `ENV KEY value`
            for word in words:
                key, sep, value = word.partition("=")
                if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                    fail(f"{where}: ENV '{word}' not understood")
                stage["env"][key] = value
        elif keyword == "USER":
            no_variables(args, where)
            if not re.fullmatch(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?", args):
                fail(f"{where}: USER '{args}' not understood")
            stage["user"] = args
        elif keyword == "EXPOSE":
            for word in args.split():
                if not re.fullmatch(r"\d+(/tcp)?", word):
                    fail(f"{where}: EXPOSE '{word}' not understood (tcp ports only)")
                stage["expose"].append(word.split("/")[0])
        elif keyword == "VOLUME":
            volumes = json.loads(args) if args.startswith("[") else args.split()
            for volume in volumes:
                no_variables(volume, where)
            stage["volumes"] += volumes
        elif keyword == "LABEL":
            pass  # metadata only
        elif keyword == "ENTRYPOINT":
            stage["entrypoint"], shell = command_form(args, where)
            stage["cmd"] = []  # ENTRYPOINT resets the base image's CMD
        elif keyword == "CMD":
            stage["cmd"], shell = command_form(args, where)
        elif keyword == "HEALTHCHECK":
            flags, args = split_flags(keyword, args, where)
            if args.upper() == "NONE":
                stage["healthcheck"] = None
            else:
                m = re.match(r"CMD\s+(.*)$", args, re.S | re.I)
                if not m:
                    fail(f"{where}: HEALTHCHECK '{args}' not understood")
                stage["healthcheck"], shell = command_form(m.group(1).strip(), where)
                m = re.fullmatch(r"(\d+)s", flags.get("timeout", "30s"))
                if not m:
                    fail(f"{where}: HEALTHCHECK --timeout={flags['timeout']} not understood (whole seconds)")
                stage["health_timeout"] = int(m.group(1))
        else:
            fail(f"{where}: instruction {keyword} is not understood by the replay")
        step["env"], step["user"], step["workdir"] = dict(stage["env"]), stage["user"], stage["workdir"]
        stage["steps"].append(step)
    if not stages:
        fail("no FROM")
    return stages


def stage_by_name(stages, name):
    for stage in stages:
        if stage["name"] == name:
            return stage
    fail(f"no stage '{name}'")


def shell_name(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def cmd_plan(path):
    """The Dockerfile as shell variables, for the bash side."""
    stages = parse(path)
    if len({shell_name(s["name"]) for s in stages}) != len(stages):
        fail("stage names collide")
    q = shlex.quote
    arr = lambda items: "(" + " ".join(q(i) for i in items) + ")"
    print(f"DF_STAGES={arr([s['name'] for s in stages])}")
    print(f"DF_FINAL={q(stages[-1]['name'])}")
    for s in stages:
        v = shell_name(s["name"])
        print(f"DF_{v}_IMAGE={q(s['image'])}; DF_{v}_KIND={q(s['kind'])}; DF_{v}_SUITE={q(s['suite'])}; DF_{v}_RUST={q(s['rust'])}")
        print(f"DF_{v}_STEPS={len(s['steps'])}")
        texts = [re.sub(r"\s+", " ", st["text"]) for st in s["steps"]]
        print(f"DF_{v}_TEXT={arr(texts)}")
        print(f"DF_{v}_PACKAGES={arr(s['packages'])}")
        print(f"DF_{v}_COPY_FROM={arr(sorted(set(s['copy_from'])))}")
        print(f"DF_{v}_ENV={arr(k + '=' + val for k, val in s['env'].items())}")
        print(f"DF_{v}_USER={q(s['user'])}; DF_{v}_WORKDIR={q(s['workdir'])}")
        print(f"DF_{v}_COMMAND={arr(s['entrypoint'] + s['cmd'])}")
        print(f"DF_{v}_ENTRYPOINT={arr(s['entrypoint'])}")
        print(f"DF_{v}_HEALTHCHECK={arr(s['healthcheck'] or [])}; DF_{v}_HEALTH_TIMEOUT={s['health_timeout']}")
        print(f"DF_{v}_EXPOSE={arr(s['expose'])}; DF_{v}_VOLUMES={arr(s['volumes'])}")


# --- running a command in a root, as `docker run` / RUN would ---------------

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG = 1


def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def resolve_user(root, spec):
    """uid, gid, supplementary groups and home of USER `spec`, from the root's files."""
    name, _, group = spec.partition(":")
    passwd = [l.split(":") for l in open(os.path.join(root, "etc/passwd")).read().splitlines() if l]
    groups = [l.split(":") for l in open(os.path.join(root, "etc/group")).read().splitlines() if l]
    entry = next((p for p in passwd if p[0] == name or (name.isdigit() and p[2] == name)), None)
    if entry is None and not name.isdigit():
        raise SystemExit(f"FAIL USER {name}: no such user in the image's /etc/passwd")
    uid = int(entry[2]) if entry else int(name)
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry else "/"
    if group:
        g = next((g for g in groups if g[0] == group or (group.isdigit() and g[2] == group)), None)
        if g is None and not group.isdigit():
            raise SystemExit(f"FAIL USER {spec}: no such group in the image's /etc/group")
        gid = int(g[2]) if g else int(group)
    extra = [int(g[2]) for g in groups if entry and entry[0] in g[3].split(",")]
    return uid, gid, sorted({gid, *extra}), home


def run_in_root(root, user, workdir, env, argv, pidfile=None):
    """Runs argv in root (chroot, new PID and mount namespaces: argv is PID 1,
    with a /proc of its own) as `user` in `workdir` with exactly `env`.
    Returns the exit status, 128+N for a signal, like docker."""
    uid, gid, groups, home = resolve_user(root, user)
    env = dict(env)
    env.setdefault("HOSTNAME", "favorites-replay")
    env.setdefault("HOME", home)
    devnull = os.open("/dev/null", os.O_RDONLY)
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID), "unshare")
    alive_r, alive_w = os.pipe()  # EOF on alive_r: this helper is gone
    pid = os.fork()
    if pid == 0:
        try:
            check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
            proc = os.path.join(root, "proc").encode()
            check(libc.mount(b"proc", proc, b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount proc")
            os.dup2(devnull, 0)
            os.close(alive_w)
            os.closerange(3, alive_r)  # no descriptor of the replay leaks in
            os.closerange(alive_r + 1, 1 << 16)
            os.chroot(root)
            os.chdir(workdir)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            # Dies with this helper (set after setuid, which clears it): a
            # PID 1 that ignores SIGTERM must not outlive a timeout.
            check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            if select.select([alive_r], [], [], 0)[0]:
                os._exit(137)  # the helper died before prctl
            os.close(alive_r)
            os.execvpe(argv[0], argv, env)
        except BaseException as error:  # noqa: BLE001 - report anything, then exit like a failed exec
            sys.stderr.write(f"replay: cannot run {argv!r} in {root}: {error}\n")
            os._exit(127)
    os.close(alive_r)
    registry = os.path.join(os.environ["REPLAY_PIDS"], str(pid)) if os.environ.get("REPLAY_PIDS") else None
    for name in filter(None, (pidfile, registry)):
        with open(name, "w") as f:
            f.write(f"{pid}\n")
    def forward(number, frame):
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 127
        except InterruptedError:
            continue
    if registry:
        os.unlink(registry)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def merged_env(base, extra):
    env = dict(base)
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    return env


# --- COPY -----------------------------------------------------------------

def ignore_rules(context):
    """.dockerignore patterns as (regex, excluded?) in file order."""
    rules = []
    path = os.path.join(context, ".dockerignore")
    if not os.path.exists(path):
        return rules
    for line in open(path).read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            c = pattern[i]
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif c == "*":
                regex, i = regex + "[^/]*", i + 1
            elif c == "?":
                regex, i = regex + "[^/]", i + 1
            elif c == "[":
                end = pattern.find("]", i)
                if end < 0:
                    fail(f".dockerignore: '{line}' not understood")
                regex, i = regex + "[" + pattern[i + 1:end].replace("!", "^", 1) + "]", end + 1
            elif c == "\\" and i + 1 < len(pattern):
                regex, i = regex + re.escape(pattern[i + 1]), i + 2
            else:
                regex, i = regex + re.escape(c), i + 1
        rules.append((re.compile(regex + r"\Z"), not negate))
    return rules


def ignored(rules, relpath):
    """Docker's rule: a path is excluded when the last matching pattern, tried
    on the path and on each of its parent directories, excludes it."""
    parts = relpath.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for regex, excludes in rules:
        if any(regex.match(c) for c in candidates):
            excluded = excludes
    return excluded


def copy_entry(src, dst):
    """One file, symlink or directory (created), owned by root, mode and mtime kept."""
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        if os.path.lexists(dst):
            os.unlink(dst)
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(st.st_mode):
        os.makedirs(dst, exist_ok=True)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    elif stat.S_ISREG(st.st_mode):
        if os.path.isdir(dst) and not os.path.islink(dst):
            fail(f"COPY: {dst} is a directory in the image")
        shutil.copy2(src, dst, follow_symlinks=False)
    else:
        fail(f"COPY: {src} is not a file, directory or symlink")
    os.lchown(dst, 0, 0)
    if not stat.S_ISLNK(st.st_mode):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_tree(src, dst, rules, rel):
    """Directory src's contents into dst; rel is src relative to the context
    (None outside it: no .dockerignore)."""
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        child_rel = None if rel is None else (name if rel in ("", ".") else rel + "/" + name)
        if child_rel is not None and ignored(rules, child_rel):
            continue
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and not os.path.islink(s):
            copy_tree(s, d, rules, child_rel)
        copy_entry(s, d)
    st = os.stat(src)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def inside(root, path):
    """path (absolute in the image) as a host path under root."""
    return os.path.join(root, os.path.normpath("/" + path).lstrip("/"))


def do_copy(step, root, context, stages, from_roots, from_context):
    rules = ignore_rules(context)
    dest = step["dest"] if step["dest"].startswith("/") else os.path.join(step["workdir"], step["dest"])
    dest_is_dir = step["dest"].endswith("/") or step["dest"] in (".", "./") or len(step["sources"]) > 1
    for source in step["sources"]:
        if step["from"] is None:
            rel = os.path.normpath(source).lstrip("/")
            if rel == ".." or rel.startswith("../"):
                fail(f"line {step['line']}: COPY source {source} is outside the build context")
            host, relpath = os.path.join(context, rel), rel
            if rel != "." and ignored(rules, rel):
                fail(f"line {step['line']}: COPY source {source} is excluded by .dockerignore")
        elif step["from"] in from_roots:
            host, relpath = inside(from_roots[step["from"]], source), None
        elif step["from"] in from_context:
            # runtime mode: the earlier stage's files are this checkout's, its
            # WORKDIR being the repository (the release binary in target/)
            workdir = stage_by_name(stages, step["from"])["workdir"]
            image_path = os.path.normpath(os.path.join(workdir, source))
            if not image_path.startswith(workdir.rstrip("/") + "/"):
                fail(f"line {step['line']}: COPY --from={step['from']} {source} is not under that stage's WORKDIR {workdir}")
            host, relpath = os.path.join(context, os.path.relpath(image_path, workdir)), None
        else:
            fail(f"line {step['line']}: COPY --from={step['from']}: that stage was not replayed")
        if not os.path.lexists(host):
            fail(f"line {step['line']}: COPY source {source} not found ({host})")
        target = inside(root, dest)
        if os.path.isdir(host) and not os.path.islink(host):
            copy_tree(host, target, rules, relpath)
            os.lchown(target, 0, 0)
        else:
            if dest_is_dir:
                os.makedirs(target, exist_ok=True)
                target = os.path.join(target, os.path.basename(host))
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            copy_entry(host, target)


def cmd_step(path, stage_name, index, root, context, from_specs):
    stages = parse(path)
    stage = stage_by_name(stages, stage_name)
    step = stage["steps"][index]
    from_roots, from_context = {}, set()
    for spec in from_specs:
        name, _, where = spec.partition("=")
        if where == "context":
            from_context.add(name)
        else:
            from_roots[name] = where
    keyword = step["keyword"]
    if keyword == "RUN":
        status = run_in_root(root, step["user"], step["workdir"], step["env"], step["argv"])
        if status != 0:
            print(f"FAIL Dockerfile line {step['line']}: RUN exited with {status}", flush=True)
            sys.exit(1)
    elif keyword == "COPY":
        do_copy(step, root, context, stages, from_roots, from_context)
    elif keyword == "WORKDIR":
        os.makedirs(inside(root, step["path"]), exist_ok=True)
    elif keyword == "VOLUME":
        for volume in stage["volumes"]:
            os.makedirs(inside(root, volume), exist_ok=True)
    elif keyword in META:
        pass  # image configuration, applied when a command runs


def cmd_exec_base(path, stage_name, root, argv):
    """As the base image would run it: root, in /, with the image's ENV."""
    stage = stage_by_name(parse(path), stage_name)
    sys.exit(run_in_root(root, "root", "/", base_image(stage["image"], "FROM")["env"], argv))


def cmd_exec(path, stage_name, root, pidfile, extra, argv):
    stage = stage_by_name(parse(path), stage_name)
    env = merged_env(stage["env"], extra)
    sys.exit(run_in_root(root, stage["user"], stage["workdir"], env, argv, pidfile or None))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    dockerfile = os.environ["DOCKERFILE"]
    if command == "plan":
        cmd_plan(dockerfile)
    elif command == "step":
        stage, index, root, context, *froms = args
        cmd_step(dockerfile, stage, int(index), root, context, froms)
    elif command == "exec":
        # exec STAGE ROOT PIDFILE [NAME=VALUE...] -- ARGV...
        stage, root, pidfile = args[:3]
        split = args.index("--")
        cmd_exec(dockerfile, stage, root, pidfile, args[3:split], args[split + 1:])
    elif command == "exec-base":
        # exec-base STAGE ROOT -- ARGV...
        cmd_exec_base(dockerfile, args[0], args[1], args[3:])
    else:
        fail(f"internal: unknown command {command}")


main()
PY

# DF_<stage>_<field>: a value, or an array's words one a line (none for an
# empty array).
df() {
    local name="DF_${1//[^A-Za-z0-9_]/_}_$2"
    [[ -v "$name" || "$(declare -p "$name" 2>/dev/null)" == "declare -a"* ]] || die "internal: no $name"
    eval "set -- \"\${${name}[@]}\""
    [[ $# -eq 0 ]] || printf '%s\n' "$@"
}

# --- cleanup: always, on success, failure or interrupt --------------------
RUN_DIR=""
SERVER_PID=""
exec 5>&1 6>&2 # the script's own output, for the cleanup's report
cleanup() {
    local status=$?
    set +e
    exec 1>&5 2>&6 # even when a signal came in the middle of a redirected step
    # Whatever still runs in a root: each command is PID 1 of a PID namespace
    # of its own, and killing that ends everything in it.
    local pidfile
    for pidfile in "$RUN_DIR"/pids/*; do
        [[ -f "$pidfile" ]] && kill -KILL "$(basename "$pidfile")" 2>/dev/null
    done
    if [[ -n "$CHILD_PID" ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
        local archives
        for archives in "$RUN_DIR"/apt-archives-*/; do
            [[ -d "$archives" ]] && find "$archives" -maxdepth 1 -name '*.deb' -exec cp -aln -t "$CACHE/apt-archives" {} + 2>/dev/null
        done
        # innermost first
        local mounts
        mounts="$(awk -v dir="$RUN_DIR/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r)"
        for m in $mounts; do
            umount "$m" 2>/dev/null || umount -l "$m"
        done
        if awk -v dir="$RUN_DIR/" 'index($5, dir) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
            printf 'FAIL cleanup: mounts remain under %s; not removing it\n' "$RUN_DIR"
            status=1
        elif [[ $KEEP -eq 1 ]]; then
            log "kept the replay's roots in $RUN_DIR (remove it by hand)"
        else
            rm -rf --one-file-system "$RUN_DIR" "$RUN_DIR.lock"
        fi
    fi
    if [[ $status -eq 0 ]]; then
        printf 'PASS container %s replay (%s)\n' "$MODE" "$(elapsed)"
    else
        printf 'FAIL container %s replay (exit %s, after %s)\n' "$MODE" "$status" "$(elapsed)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# This replay's directory, locked while it runs. Directories left behind by
# a killed run (their mounts died with its namespace) have no lock holder and
# are removed; the runs lock makes pruning and creating one step.
exec 7>"$CACHE/runs.lock"
flock 7
for stale in "$CACHE"/runs/replay.*/; do
    [[ -d "$stale" ]] || continue
    stale="${stale%/}"
    if flock -n "$stale.lock" true 2>/dev/null; then
        log "removing $stale, left by a replay that did not finish"
        rm -rf --one-file-system "$stale" "$stale.lock"
    fi
done
RUN_DIR="$(mktemp -d "$CACHE/runs/replay.XXXXXX")"
exec 9>"$RUN_DIR.lock"
flock 9
exec 7>&-
mkdir "$RUN_DIR/pids"

printf '%s\n' "$PYCODE" >"$RUN_DIR/replay.py"
py() { REPLAY_PIDS="$RUN_DIR/pids" python3 "$RUN_DIR/replay.py" "$@"; }

# Runs "$@" in the background and waits for it, so that a signal to this
# script is handled at once (bash runs traps only between commands).
CHILD_PID=""
fg_run() {
    local status=0
    "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID" || status=$?
    CHILD_PID=""
    return "$status"
}

PLAN="$(py plan)" || die "the Dockerfile could not be parsed (the reason is above)"
eval "$PLAN"

# --- base roots -------------------------------------------------------------

# BASE: the debootstrapped root of a suite, made once and cached under a name
# that changes with this function's text (change the recipe, get a new root).
base_root() {
    local suite="$1" recipe
    recipe="$(declare -f base_root | sha256sum | cut -c1-8)"
    local base="$CACHE/base/$suite-minbase-$ARCH-$recipe"
    BASE="$base"
    exec 8>"$CACHE/base/$suite.lock"
    flock 8
    if [[ ! -f "$base/.favorites-base" ]]; then
        if ! command -v debootstrap >/dev/null; then
            log "installing debootstrap"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
        fi
        log "debootstrap --variant=minbase $suite (once; cached in $base)"
        local tmp="$CACHE/base/.tmp-$suite-$$"
        rm -rf --one-file-system "$CACHE/base/.tmp-$suite-"*
        if ! fg_run debootstrap --variant=minbase --arch="$ARCH" "$suite" "$tmp" "$MIRROR" >"$CACHE/base/debootstrap-$suite.log" 2>&1; then
            tail -n 20 "$CACHE/base/debootstrap-$suite.log"
            die "debootstrap of $suite failed (log: $CACHE/base/debootstrap-$suite.log)"
        fi
        # The apt sources of Debian's container images, not debootstrap's
        # single line: updates and security too.
        rm -f "$tmp/etc/apt/sources.list"
        cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        # The apt and dpkg settings of Debian's images that change what a
        # RUN does or how long it takes (docker-clean is left out: the
        # downloads go to a mount outside the root anyway).
        echo 'Acquire::Languages "none";' >"$tmp/etc/apt/apt.conf.d/docker-no-languages"
        echo 'Acquire::GzipIndexes "true";' >"$tmp/etc/apt/apt.conf.d/docker-gzip-indexes"
        echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$tmp/etc/apt/apt.conf.d/docker-autoremove-suggests"
        echo 'force-unsafe-io' >"$tmp/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
        printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
        chmod 755 "$tmp/usr/sbin/policy-rc.d"
        # An image ships without package lists or downloaded packages.
        rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/archives/*.deb
        date -u +%FT%TZ >"$tmp/.favorites-base"
        rm -rf --one-file-system "$base" "$CACHE/base/$suite-minbase-$ARCH"*
        mv "$tmp" "$base"
    fi
    exec 8>&-
}

# The host toolchain for the rust:<version> image: prints "name dir".
rust_toolchain() {
    local want="$1" home="${RUSTUP_HOME:-$HOME/.rustup}" dir version
    for dir in "$home"/toolchains/*/; do
        dir="$(readlink -f "$dir")"
        [[ -x "$dir/bin/rustc" && -x "$dir/bin/cargo" ]] || continue
        version="$("$dir/bin/rustc" --version 2>/dev/null | awk '{print $2}')"
        if [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ && ("$version" == "$want" || "$version" == "$want".*) ]]; then
            printf '%s-x86_64-unknown-linux-gnu %s\n' "$version" "$dir"
            return 0
        fi
    done
    return 1
}

# A Docker-like /dev, /proc and read-only /sys in a root, and the image's
# /etc/hosts, /etc/hostname, /etc/resolv.conf.
mount_system() {
    local root="$1"
    mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
    mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs "$root/dev"
    local spec name type major minor
    for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
        IFS=: read -r name major minor <<<"$spec"
        mknod -m 666 "$root/dev/$name" c "$major" "$minor"
    done
    mkdir -p "$root/dev/pts" "$root/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec devpts "$root/dev/pts"
    ln -s pts/ptmx "$root/dev/ptmx"
    mount -t tmpfs -o nosuid,nodev,noexec,size=65536k shm "$root/dev/shm"
    ln -s /proc/self/fd "$root/dev/fd"
    for type in 0:stdin 1:stdout 2:stderr; do
        ln -s "/proc/self/fd/${type%%:*}" "$root/dev/${type#*:}"
    done
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    echo favorites-replay >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost favorites-replay\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    # apt's downloads go to a directory of this replay, not into the image:
    # seeded with (hard links to) the packages earlier replays downloaded,
    # and the new ones linked back into the cache at the end. (Not the cache
    # itself: concurrent replays would fight over apt's lock in it.)
    local archives apt_uid
    archives="$RUN_DIR/apt-archives-$(basename "$root")"
    mkdir -p "$archives/partial"
    find "$CACHE/apt-archives" -maxdepth 1 -name '*.deb' -exec cp -al -t "$archives" {} + 2>/dev/null ||
        find "$CACHE/apt-archives" -maxdepth 1 -name '*.deb' -exec cp -a -t "$archives" {} +
    apt_uid="$(awk -F: '$1 == "_apt" { print $3 }' "$root/etc/passwd")"
    [[ -z "$apt_uid" ]] || chown "$apt_uid:0" "$archives/partial"
    mount --bind "$archives" "$root/var/cache/apt/archives"
}

# ROOT: a fresh root for stage $1, a copy of its base image.
new_root() {
    local stage="$1"
    base_root "$(df "$stage" SUITE)"
    ROOT="$RUN_DIR/$stage"
    log "stage $stage: FROM $(df "$stage" IMAGE): a copy of $BASE"
    cp -a "$BASE" "$ROOT"
    rm -f "$ROOT/.favorites-base"
    mount_system "$ROOT"
    if [[ "$(df "$stage" KIND)" == rust ]]; then
        prepare_rust_image "$stage" "$ROOT"
    fi
}

# What rust:<version>-slim-<suite> adds to debian:<suite>-slim: its packages
# (ca-certificates gcc libc6-dev, installed as that image's Dockerfile does)
# and a rustup installation with one toolchain, here this machine's.
prepare_rust_image() {
    local stage="$1" root="$2" want name dir
    want="$(df "$stage" RUST)"
    read -r name dir < <(rust_toolchain "$want") ||
        die "stage $stage: FROM rust:$want needs Rust $want on this machine (rustup toolchain install $want)"
    log "stage $stage: the rust image's packages (ca-certificates gcc libc6-dev) and toolchain $name from $dir"
    cat >"$RUN_DIR/rust-image.sh" <<'EOF'
set -eu
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates gcc libc6-dev >/dev/null
rm -rf /var/lib/apt/lists/*
EOF
    cp "$RUN_DIR/rust-image.sh" "$root/tmp/rust-image.sh"
    fg_run py exec-base "$stage" "$root" -- /bin/sh /tmp/rust-image.sh ||
        die "stage $stage: installing the rust image's packages failed"
    rm -f "$root/tmp/rust-image.sh"
    local rustup_home="$root/usr/local/rustup" cargo_home="$root/usr/local/cargo"
    mkdir -p "$rustup_home/toolchains/$name" "$cargo_home/bin" "$cargo_home/registry"
    printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n\n[overrides]\n' "$name" >"$rustup_home/settings.toml"
    mount --bind -o ro "$dir" "$rustup_home/toolchains/$name"
    local host_cargo="${CARGO_HOME:-$HOME/.cargo}"
    cp -a "$host_cargo/bin/rustup" "$cargo_home/bin/"
    for tool in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb; do
        ln -s rustup "$cargo_home/bin/$tool"
    done
    # Crates from this machine's cache, writes kept in the replay (Docker would
    # download the same files from crates.io; Cargo.lock pins their checksums).
    if [[ -d "$host_cargo/registry" ]]; then
        mkdir -p "$RUN_DIR/registry-upper" "$RUN_DIR/registry-work"
        if mount -t overlay overlay \
            -o "lowerdir=$host_cargo/registry,upperdir=$RUN_DIR/registry-upper,workdir=$RUN_DIR/registry-work" \
            "$cargo_home/registry"; then
            log "stage $stage: crates from $host_cargo/registry (overlay, read-only below)"
        else
            log "stage $stage: no overlay mount; crates come from crates.io"
        fi
    fi
}

run_stage() {
    local stage="$1" root="$2" i from froms=()
    while read -r from; do
        [[ -n "$from" ]] || continue
        if [[ "$MODE" == build ]]; then
            froms+=("$from=$RUN_DIR/$from")
        else
            froms+=("$from=context")
        fi
    done < <(df "$stage" COPY_FROM)
    local -a texts
    mapfile -t texts < <(df "$stage" TEXT)
    local steplog="$RUN_DIR/$stage.log"
    for ((i = 0; i < ${#texts[@]}; i++)); do
        printf -- '--- [%s %d/%d] %s\n' "$stage" "$((i + 1))" "${#texts[@]}" "${texts[i]}"
        if [[ $VERBOSE -eq 1 ]]; then
            fg_run py step "$stage" "$i" "$root" "$ROOT_DIR" "${froms[@]}" ||
                die "stage $stage: step $((i + 1)) failed (see above)"
        elif ! fg_run py step "$stage" "$i" "$root" "$ROOT_DIR" "${froms[@]}" >"$steplog" 2>&1; then
            tail -n 40 "$steplog"
            die "stage $stage: step $((i + 1)) failed (the last lines of its output are above)"
        fi
    done
}

# --- the runtime check: docker run, /healthz, HEALTHCHECK, docker stop ------

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# HTTP status of GET $1 with optional bearer token $2 (000 when no answer).
http_status() {
    python3 - "$1" "${2:-}" <<'PY'
import sys, urllib.error, urllib.request
url, token = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=3) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except Exception:
    print("000")
PY
}

check_runtime() {
    local stage="$1" root="$2"
    local -a command health entrypoint packages env=()
    mapfile -t command < <(df "$stage" COMMAND)
    mapfile -t health < <(df "$stage" HEALTHCHECK)
    mapfile -t entrypoint < <(df "$stage" ENTRYPOINT)
    mapfile -t packages < <(df "$stage" PACKAGES)
    local health_timeout user workdir
    health_timeout="$(df "$stage" HEALTH_TIMEOUT)"
    user="$(df "$stage" USER)"
    workdir="$(df "$stage" WORKDIR)"
    [[ ${#command[@]} -gt 0 && -n "${command[0]}" ]] || die "stage $stage has no ENTRYPOINT/CMD"

    # The packages the stage's RUN installs are there.
    local pkg missing=()
    for pkg in "${packages[@]}"; do
        [[ -n "$pkg" ]] || continue
        # shellcheck disable=SC2016 # dpkg-query's format, not the shell's
        [[ "$(chroot "$root" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        die "runtime packages not installed: ${missing[*]}"
    fi
    pass "runtime packages installed: ${packages[*]:-(none)}"

    # The program's shared libraries all resolve in the image.
    local program
    program="$(chroot "$root" /usr/bin/env PATH="$(df "$stage" ENV | sed -n 's/^PATH=//p')" sh -c "command -v '${command[0]}'")" ||
        die "${command[0]} (ENTRYPOINT/CMD) is not on the image's PATH"
    local libs
    libs="$(chroot "$root" ldd "$program" 2>&1)" || die "ldd $program failed in the image: $libs"
    if grep -q 'not found' <<<"$libs"; then
        printf '%s\n' "$libs"
        die "$program needs shared libraries the image lacks: $(grep 'not found' <<<"$libs" | awk '{print $1}' | xargs)"
    fi
    local lib owners=()
    while read -r lib; do
        owners+=("$(basename "$lib") ($( (chroot "$root" dpkg -S "$lib" || chroot "$root" dpkg -S "$(chroot "$root" readlink -f "$lib")") 2>/dev/null | head -n1 | cut -d: -f1))")
    done < <(awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs" | sort -u)
    pass "$program links only libraries the image has: ${owners[*]}"
    # ... and each comes with the base image or is installed by name, not only
    # as a dependency of something else that could be dropped.
    local owner base_packages accidental=()
    base_packages=" $(dpkg-query --admindir="$BASE/var/lib/dpkg" -W -f='${Package} ' 2>/dev/null) "
    for owner in "${owners[@]}"; do
        pkg="${owner##*(}"
        pkg="${pkg%)}"
        pkg="${pkg%%:*}"
        [[ -n "$pkg" ]] || die "no package in the image provides $owner"
        if [[ "$base_packages" != *" $pkg "* && " ${packages[*]} " != *" $pkg "* ]]; then
            [[ " ${accidental[*]} " == *" $pkg "* ]] || accidental+=("$pkg")
        fi
    done
    if [[ ${#accidental[@]} -gt 0 ]]; then
        die "$program's libraries from ${accidental[*]} are in the image only as dependencies of other packages: name ${accidental[*]} in stage $stage's apt-get install"
    fi
    pass "each of them comes with $(df "$stage" IMAGE) or is installed by name"

    # EXPOSE and the default BIND agree.
    local bind port expose
    bind="$(df "$stage" ENV | sed -n 's/^BIND=//p')"
    expose="$(df "$stage" EXPOSE | xargs)"
    if [[ -n "$bind" && -n "$expose" ]]; then
        [[ " $expose " == *" ${bind##*:} "* ]] || die "ENV BIND=$bind listens on a port EXPOSE ($expose) does not name"
        pass "ENV BIND=$bind matches EXPOSE $expose"
    fi

    # docker run -e ...: the image's ENV, BIND on a free loopback port, a test
    # JWT secret unless given.
    port="$(free_port)"
    env=("BIND=127.0.0.1:$port")
    if ! printf '%s\n' "${EXTRA_ENV[@]}" | grep -q '^JWT_SECRET='; then
        env+=("JWT_SECRET=container-replay-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')")
    fi
    env+=("${EXTRA_ENV[@]}")
    local base="http://127.0.0.1:$port" serverlog="$RUN_DIR/server.log"
    local shown=() item
    for item in "${env[@]}"; do
        [[ "${item%%=*}" == *SECRET* ]] && shown+=("-e ${item%%=*}=(hidden)") || shown+=("-e $item")
    done
    log "docker run ${shown[*]} <image>: ${command[*]} as $user in $workdir with ENV $(df "$stage" ENV | grep -v '^PATH=' | xargs)"
    py exec "$stage" "$root" "$RUN_DIR/server.pid" "${env[@]}" -- "${command[@]}" >"$serverlog" 2>&1 &
    SERVER_PID=$!
    local status=000 waited
    for waited in $(seq 1 300); do
        status="$(http_status "$base/healthz")"
        [[ "$status" == 200 ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ "$status" != 200 ]]; then
        tail -n 30 "$serverlog"
        die "GET /healthz answered $status (the server log is above)"
    fi
    local pid
    pid="$(cat "$RUN_DIR/server.pid")"
    pass "'${command[*]}' serves: GET /healthz 200 after $((waited / 10)).$((waited % 10)) s"
    local want_uid uid
    want_uid="$(awk -F: -v u="${user%%:*}" '$1 == u || $3 == u { print $3; exit }' "$root/etc/passwd")"
    uid="$(stat -c %u "/proc/$pid")"
    [[ "$uid" == "${want_uid:-${user%%:*}}" ]] || die "the server runs as uid $uid, not as USER $user (uid $want_uid)"
    [[ "$(awk '$1 == "NSpid:" { print $NF }' "/proc/$pid/status")" == 1 ]] || die "the server is not PID 1 of its PID namespace"
    pass "it runs as USER $user (uid $uid), as PID 1 of its own PID namespace (host pid $pid)"

    status="$(http_status "$base/readyz")"
    [[ "$status" == 200 ]] || die "GET /readyz answered $status: the database in the image ($(df "$stage" ENV | sed -n 's/^DATABASE_URL=//p')) does not work"
    pass "GET /readyz 200: the database at $(df "$stage" ENV | sed -n 's/^DATABASE_URL=//p') works as $user"

    if [[ ${#health[@]} -gt 0 ]]; then
        if timeout -k 2 "$health_timeout" env REPLAY_PIDS="$RUN_DIR/pids" python3 "$RUN_DIR/replay.py" \
            exec "$stage" "$root" "" "${env[@]}" -- "${health[@]}"; then
            pass "HEALTHCHECK '${health[*]}' exits 0 (within its ${health_timeout} s timeout)"
        else
            die "HEALTHCHECK '${health[*]}' failed while the server is up"
        fi
    fi

    if [[ ${#entrypoint[@]} -gt 0 ]]; then
        local token
        token="$(py exec "$stage" "$root" "" "${env[@]}" -- "${entrypoint[@]}" token --sub container-replay --ttl 300 2>>"$serverlog")" ||
            die "'${entrypoint[*]} token' failed in the image"
        status="$(http_status "$base/api/v1/me" "$token")"
        [[ "$status" == 200 ]] || die "GET /api/v1/me with a token from '${entrypoint[*]} token' answered $status"
        pass "a token from '${entrypoint[*]} token' in the image is accepted: GET /api/v1/me 200"
    fi

    # docker stop: SIGTERM to PID 1, which must exit cleanly by itself (as PID
    # 1 it has no default action for SIGTERM: ignoring it means a SIGKILL).
    kill -TERM "$pid"
    local code=""
    for waited in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        die "the server ignored SIGTERM for 10 s (docker stop would SIGKILL it)"
    fi
    wait "$SERVER_PID" && code=0 || code=$?
    SERVER_PID=""
    if [[ "$code" != 0 ]]; then
        tail -n 20 "$serverlog"
        die "after SIGTERM the server exited with $code, not 0"
    fi
    pass "SIGTERM: the server stopped cleanly (exit 0) after $((waited / 10)).$((waited % 10)) s"

    if [[ ${#health[@]} -gt 0 ]]; then
        if timeout -k 2 "$health_timeout" env REPLAY_PIDS="$RUN_DIR/pids" python3 "$RUN_DIR/replay.py" \
            exec "$stage" "$root" "" "${env[@]}" -- "${health[@]}" 2>/dev/null; then
            die "HEALTHCHECK '${health[*]}' exits 0 with the server stopped"
        fi
        pass "HEALTHCHECK fails once the server is stopped"
    fi
}

# --- main -----------------------------------------------------------------

FINAL="$DF_FINAL"
log "mode $MODE; Dockerfile stages: ${DF_STAGES[*]} (final: $FINAL); cache $CACHE"

if [[ "$MODE" == runtime ]]; then
    # The stages the final one copies from are this checkout: their WORKDIR
    # is the repository, so --from=build /src/target/release/favorites is
    # target/release/favorites here.
    while read -r from; do
        [[ -n "$from" ]] || continue
        if [[ ! -x "$ROOT_DIR/target/release/favorites" ]]; then
            log "no target/release/favorites: cargo build --release"
            # shellcheck disable=SC2016 # expanded by the inner shell
            fg_run bash -c 'cd "$1" && cargo build --release' _ "$ROOT_DIR" || die "cargo build --release failed"
        fi
        log "stage $from: not replayed; COPY --from=$from takes files from $ROOT_DIR (under its WORKDIR $(df "$from" WORKDIR))"
    done < <(df "$FINAL" COPY_FROM)
    stage_started=$(date +%s)
    new_root "$FINAL"
    run_stage "$FINAL" "$ROOT"
    pass "stage $FINAL: $(df "$FINAL" STEPS) instructions replayed in $(($(date +%s) - stage_started)) s"
    check_runtime "$FINAL" "$ROOT"
else
    for stage in "${DF_STAGES[@]}"; do
        stage_started=$(date +%s)
        new_root "$stage"
        run_stage "$stage" "$ROOT"
        pass "stage $stage: $(df "$stage" STEPS) instructions replayed in $(($(date +%s) - stage_started)) s"
    done
    check_runtime "$FINAL" "$RUN_DIR/$FINAL"
fi
