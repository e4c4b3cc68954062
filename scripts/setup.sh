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

ensure_venv() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        local py
        if ! py="$(find_python)"; then
            apt_install python3 python3-venv || { say "edge-app needs Python >= 3.10"; exit 1; }
            py="$(find_python)" || { say "edge-app needs Python >= 3.10"; exit 1; }
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

ensure_chromium() {
    # The zone editor's browser test drives Debian's chromium through Playwright (whose own
    # browser download is never used). Without chromium that test skips and says why.
    if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
        return 0
    fi
    apt_install chromium || say "chromium is missing: the browser test will be skipped" \
        "(install it with: apt-get install chromium)"
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
