# Sourced by scripts/demo.sh and scripts/test.sh: makes .venv in the repository root on
# first use and installs what edge-app needs. Safe to run again: it only reinstalls when
# pyproject.toml changed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

say() { printf 'edge-app setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    # Installs Debian/Ubuntu packages when we may; otherwise says exactly what is missing.
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing: $* (not a Debian/Ubuntu system: install them with your package manager)"
        return 1
    fi
    if ! as_root true; then
        say "missing: $* — run: sudo apt-get install -y $*"
        return 1
    fi
    say "installing $* with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

SUPPORTED="Python >= 3.10: Debian 12 (3.11), Ubuntu 22.04 (3.10) or 24.04 (3.12), JetPack 6 (3.10)"

find_python() {
    for candidate in python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

apt_python_ok() {
    # True when apt would install a python3 of 3.10 or newer (its candidate version).
    command -v apt-cache >/dev/null 2>&1 || return 1
    local candidate
    candidate="$(apt-cache policy python3 2>/dev/null | awk '/Candidate:/ {print $2}')"
    case "$candidate" in
        3.[0-9]|3.[0-9][-.+~]*|"(none)"|"") return 1 ;;
        3.*) return 0 ;;
        *) return 1 ;;
    esac
}

no_python() {
    local have=""
    if command -v python3 >/dev/null 2>&1; then
        have=" (this system has $(python3 --version 2>&1))"
    fi
    say "edge-app needs $SUPPORTED$have."
    say "Use one of those systems, or install Python 3.10 or newer and put it first on PATH" \
        "as python3 (or python3.1X)."
    exit 1
}

ensure_venv() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        local py
        if ! py="$(find_python)"; then
            # Only where the system's own python3 is new enough: Debian 11's 3.9 would be
            # installed for nothing.
            apt_python_ok || no_python
            apt_install python3 python3-venv || no_python
            py="$(find_python)" || no_python
        fi
        if ! "$py" -m venv "$VENV" >/dev/null 2>&1; then
            rm -rf "$VENV"
            apt_install python3-venv || exit 1
            "$py" -m venv "$VENV"
        fi
        say "created $VENV with $("$VENV/bin/python" --version)"
    fi
    local stamp="$VENV/.edge-app-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$REPO_ROOT/pyproject.toml" -nt "$stamp" ]; then
        say "installing edge-app[$extras] into .venv"
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT[$extras]"
        touch "$stamp"
    fi
}

ensure_mosquitto() {
    # The tests start their own private broker from this binary; nothing is left running.
    if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
        return 0
    fi
    apt_install mosquitto || {
        say "mosquitto is needed for the MQTT tests — install it (apt-get install mosquitto)"
        return 1
    }
}

has_libatomic() {
    ldconfig -p 2>/dev/null | grep -q 'libatomic\.so\.1 ' ||
        compgen -G '/usr/lib/*/libatomic.so.1' >/dev/null || [ -e /usr/lib/libatomic.so.1 ]
}

ensure_chromium() {
    # The zone editor's browser test drives Debian's chromium through Playwright (whose own
    # browser download is never used). Playwright's driver needs libatomic.so.1, which a
    # minimal Debian lacks and chromium does not pull in. Without them that test skips and
    # says why.
    local missing=()
    if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
        missing+=(chromium)
    fi
    has_libatomic || missing+=(libatomic1)
    [ "${#missing[@]}" -eq 0 ] && return 0
    apt_install "${missing[@]}" || say "${missing[*]} missing: the browser test will be" \
        "skipped (install with: apt-get install ${missing[*]})"
}

ensure_promtool() {
    # The metrics test checks the Prometheus exposition with promtool. Debian ships promtool
    # only inside the `prometheus` package, whose installation also sets up and starts a
    # Prometheus server (a service on port 9090): more than a test command should leave on
    # a machine. promtool is one static binary, so it is taken out of that package
    # (`apt-get download`, no installation, no root needed) into .venv/bin. Without apt
    # the test skips and says why.
    if command -v promtool >/dev/null 2>&1 || [ -x "$VENV/bin/promtool" ]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
        say "promtool is missing: the metrics exposition test will be skipped"
        return 0
    }
    local tmp
    tmp="$(mktemp -d)"
    if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
        (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1) || true
    fi
    if compgen -G "$tmp/prometheus_*.deb" >/dev/null &&
        dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" &&
        [ -x "$tmp/root/usr/bin/promtool" ]; then
        cp "$tmp/root/usr/bin/promtool" "$VENV/bin/promtool"
        say "promtool taken from Debian's prometheus package into .venv/bin (nothing installed)"
    else
        say "promtool could not be fetched: the metrics exposition test will be skipped"
    fi
    rm -rf "$tmp"
}

ensure_postgresql() {
    # The fleet tests start their own private PostgreSQL server from these binaries (initdb,
    # pg_ctl) in a temporary folder; the machine's own server is never started or touched.
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
        return 0
    fi
    apt_install postgresql || say "PostgreSQL is missing: the fleet tests will be skipped" \
        "(install it with: apt-get install postgresql)"
}
