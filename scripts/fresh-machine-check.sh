#!/usr/bin/env bash
# The README's two commands on a fresh machine, as a new user meets them.
#
# Builds a minimal Debian root with debootstrap (--variant=minbase plus git and python3, no
# more), from this machine's own apt sources and pip settings; clones this repository's
# committed HEAD into it; runs `bash scripts/demo.sh` and `bash scripts/test.sh` there as
# root (so both may install what they need with apt-get, as the README says), and prints
# each one's exit status, wall time and, for the tests, pytest's summary.
#
#   sudo bash scripts/fresh-machine-check.sh [--suite bookworm] [--dir DIR] [--logs DIR] [--keep]
#
# --suite bullseye shows what a Debian 11 user sees (Python 3.9: both commands must stop at
# once). The host is not disturbed: everything runs in a private mount and PID namespace
# (unshare), so the bind mounts vanish and every process started in the root is ended when
# the check ends, failed or not; apt in the root may not start services (policy-rc.d). The
# root is deleted afterwards unless --keep. Logs stay in --logs (default var/fresh-machine).
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
SUITE=bookworm
ROOT=""
LOGS="$REPO_ROOT/var/fresh-machine"
KEEP=0
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'fresh-machine-check: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- the host's settings -----------------------------------------------------------------

apt_source_files() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && echo "$f"
    done
    return 0
}

# Prints "URI SUITE" for every enabled deb source of the host (one-line and deb822 forms).
apt_sources() {
    local f
    while read -r f; do
        case "$f" in
            *.sources)
                awk '
                    function flush() {
                        if (types ~ /(^| )deb( |$)/ && enabled != "no")
                            for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
                        types = ""; enabled = ""; nu = 0; ns = 0
                    }
                    /^[ \t]*$/ { flush(); next }
                    /^#/ { next }
                    tolower($1) == "types:" { types = substr($0, index($0, ":") + 1) }
                    tolower($1) == "enabled:" { enabled = tolower($2) }
                    tolower($1) == "uris:" { nu = 0; for (k = 2; k <= NF; k++) u[++nu] = $k }
                    tolower($1) == "suites:" { ns = 0; for (k = 2; k <= NF; k++) s[++ns] = $k }
                    END { flush() }
                ' "$f"
                ;;
            *)
                awk '$1 == "deb" {
                    k = 2; if ($k ~ /^\[/) { while ($k !~ /\]$/) k++; k++ }
                    print $k, $(k + 1)
                }' "$f"
                ;;
        esac
    done < <(apt_source_files)
}

debian_mirrors() {
    # MIRROR: the first source of a release suite; SECURITY: the first of a -security one.
    local sources
    sources="$(apt_sources)"
    MIRROR="$(awk '$2 !~ /-/ && $1 ~ /^(https?|file):/ { print $1; exit }' <<<"$sources")"
    SECURITY="$(awk '$2 ~ /-security$/ { print $1; exit }' <<<"$sources")"
    [ -n "$MIRROR" ] || die "no Debian apt source found in /etc/apt/sources.list*; this" \
        "check uses the machine's own mirror"
}

pip_config_files() {
    local f
    for f in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.pip/pip.conf" \
        "$HOME/.config/pip/pip.conf"; do
        [ -f "$f" ] && echo "$f"
    done
    return 0
}

# Local paths named by the pip settings (index and find-links folders, constraint and
# certificate files), which the root needs at the same place. A local index's .../simple
# stands for its parent folder, where its files usually lie beside it.
pip_local_paths() {
    {
        local f
        while read -r f; do
            # "key = value" lines and the indented continuation lines of a value.
            sed -n -e 's/^[^#;=[:space:]][^=]*=[[:space:]]*//p' -e 's/^[[:space:]]\{1,\}//p' "$f"
        done < <(pip_config_files)
        env | sed -n 's/^PIP_[A-Z_]*=//p'
    } | tr ' ' '\n' | sed -n -e 's#^file://##p' -e '\#^/#p' | sed 's#/*$##; s#/simple$##' |
        sort -u
}

# --- inside the private namespaces -------------------------------------------------------

in_root() {
    local -a pip_env=()
    local name
    while read -r name; do
        pip_env+=("$name=${!name}")
    done < <(compgen -e | grep '^PIP_' || true)
    chroot "$ROOT" /usr/bin/env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 TERM=dumb \
        "${pip_env[@]}" "$@"
}

mount_root() {
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sysfs "$ROOT/sys"
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
    local path
    while read -r path; do
        [ -d "$path" ] || continue
        mkdir -p "$ROOT$path"
        mount --bind "$path" "$ROOT$path"
        mount -o remount,bind,ro "$ROOT$path"
    done < <(pip_local_paths)
}

unmount_root() {
    # The namespace drops its mounts when it ends anyway; this keeps the order tidy.
    local target
    while read -r target; do
        umount -l "$target" 2>/dev/null || true
    done < <(findmnt -rn -o TARGET | grep "^$ROOT/" | sort -r)
}

run_timed() {
    # run_timed NAME LOG COMMAND...: runs COMMAND in the root's clone; prints the result line.
    local name="$1" log="$2"
    shift 2
    local start end rc
    start=$(date +%s)
    set +e
    in_root /bin/bash -c "cd /root/edge-app && $*" >"$log" 2>&1 </dev/null
    rc=$?
    set -e
    end=$(date +%s)
    local summary=""
    summary="$(grep -E '^=* ?[0-9]+ (passed|failed|error)' "$log" | tail -n 1 | tr -d '=' |
        sed 's/^ *//; s/ *$//' || true)"
    printf '  %-22s exit %-3s wall %4d s%s\n' "$name" "$rc" "$((end - start))" \
        "${summary:+   pytest: $summary}"
    if [ "$rc" -ne 0 ]; then
        printf '    last lines of %s:\n' "$log"
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
    return 0
}

inside() {
    trap unmount_root EXIT
    mount_root
    local demo_args=""
    if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
        # The root shares the host's network: keep the demo off a broker of the host's.
        demo_args=" --mqtt off"
        say "a broker answers on the host's 127.0.0.1:1883: the demo runs with --mqtt off"
    fi
    echo "results (logs in $LOGS):"
    run_timed "bash scripts/demo.sh$demo_args" "$LOGS/demo.log" "bash scripts/demo.sh$demo_args"
    run_timed "bash scripts/test.sh" "$LOGS/test.log" "bash scripts/test.sh"
}

# --- set-up and teardown on the host -----------------------------------------------------

make_root() {
    say "debootstrap $SUITE (minbase + git, python3) from $MIRROR into $ROOT"
    local start
    start=$(date +%s)
    debootstrap --variant=minbase --include=git,python3 "$SUITE" "$ROOT" "$MIRROR" \
        >"$LOGS/debootstrap.log" 2>&1 || {
        tail -n 20 "$LOGS/debootstrap.log" >&2
        die "debootstrap failed (log: $LOGS/debootstrap.log)"
    }
    say "root built in $(($(date +%s) - start)) s"
    {
        echo "Types: deb"
        echo "URIs: $MIRROR"
        echo "Suites: $SUITE $SUITE-updates"
        echo "Components: main"
        if [ -n "$SECURITY" ]; then
            echo
            echo "Types: deb"
            echo "URIs: $SECURITY"
            echo "Suites: $SUITE-security"
            echo "Components: main"
        fi
    } >"$ROOT/etc/apt/sources.list.d/debian.sources"
    rm -f "$ROOT/etc/apt/sources.list"
    # Packages installed in the root must not start their services (on the host's network).
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    cp /etc/hosts "$ROOT/etc/hosts"
    local f path
    while read -r f; do
        path="$f"
        case "$f" in "$HOME"/*) path="/root${f#"$HOME"}" ;; esac
        mkdir -p "$(dirname "$ROOT$path")"
        cp "$f" "$ROOT$path"
    done < <(pip_config_files)
    while read -r path; do
        if [ -f "$path" ]; then
            mkdir -p "$(dirname "$ROOT$path")"
            cp "$path" "$ROOT$path"
        fi
    done < <(pip_local_paths)
    # The machine's trust roots (its bundle may hold a local CA), also as a local CA of the
    # root, so that update-ca-certificates keeps them when a package installs
    # ca-certificates there.
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/local/share/ca-certificates"
        cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
        cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/machine.crt"
    fi
    local branch
    branch="$(git -C "$REPO_ROOT" symbolic-ref --quiet --short HEAD || echo HEAD)"
    git -C "$REPO_ROOT" bundle create "$ROOT/root/edge-app.bundle" "$branch" 2>/dev/null
    in_root git clone --quiet --branch "$branch" /root/edge-app.bundle /root/edge-app 2>/dev/null ||
        in_root git clone --quiet /root/edge-app.bundle /root/edge-app
    rm -f "$ROOT/root/edge-app.bundle"
    say "cloned $(git -C "$REPO_ROOT" rev-parse --short HEAD) ($branch) into /root/edge-app"
}

remove_root() {
    [ -n "$ROOT" ] && [ -d "$ROOT" ] || return 0
    if findmnt -rn -o TARGET | grep -q "^$ROOT/"; then
        say "something is still mounted under $ROOT: left in place"
        return 0
    fi
    if [ "$KEEP" -eq 1 ]; then
        say "root kept in $ROOT"
    else
        rm -rf --one-file-system "$ROOT"
    fi
}

main() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --suite) SUITE="$2"; shift 2 ;;
            --dir) ROOT="$2"; shift 2 ;;
            --logs) LOGS="$2"; shift 2 ;;
            --keep) KEEP=1; shift ;;
            --inside) ROOT="$2"; LOGS="$3"; inside; return ;;
            -h|--help) sed -n '2,16p' "$SELF" | sed 's/^# \{0,1\}//'; return 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
    done
    [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts): run it with sudo"
    for tool in debootstrap unshare chroot findmnt git; do
        command -v "$tool" >/dev/null 2>&1 ||
            die "$tool is missing (apt-get install debootstrap util-linux git)"
    done
    debian_mirrors
    mkdir -p "$LOGS"
    LOGS="$(cd "$LOGS" && pwd)"
    if [ -z "$ROOT" ]; then
        ROOT="$(mktemp -d /var/tmp/edge-app-fresh.XXXXXX)"
    else
        mkdir -p "$ROOT"
        ROOT="$(cd "$ROOT" && pwd)"
        [ -z "$(ls -A "$ROOT")" ] || die "$ROOT is not empty"
    fi
    # It becomes the machine's /: mktemp's 0700 would keep every user but root out of it
    # (the tests' private PostgreSQL runs as the postgres user).
    chmod 755 "$ROOT"
    trap remove_root EXIT
    make_root
    unshare --mount --pid --fork --propagation private -- bash "$SELF" --inside "$ROOT" "$LOGS"
}

# Sourced (by its test), it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
