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

PYCUDA_VERSION="2026.1"
CUDA_INCLUDE="${CUDA_INCLUDE:-/usr/local/cuda/include}"

build_pycuda_wheel() {
    # Builds pycuda's wheel into $1 against the CUDA toolkit's headers. pycuda links with
    # -lcuda, the driver's library, which a machine without an NVIDIA driver lacks: it links
    # against a one-function stand-in with the driver's soname instead (the extension then
    # loads whatever libcuda.so.1 the machine has). cuRAND is left out (edge-app does not
    # use it, and the toolkit may not have it).
    local wheels="$1" tmp ok=0
    command -v cc >/dev/null 2>&1 || { say "no C compiler to build pycuda"; return 1; }
    tmp="$(mktemp -d)"
    mkdir -p "$wheels" "$tmp/lib" &&
        printf 'int cuInit(unsigned int flags) { return 100; }\n' >"$tmp/lib/libcuda.c" &&
        cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$tmp/lib/libcuda.so.1" \
            "$tmp/lib/libcuda.c" &&
        ln -s libcuda.so.1 "$tmp/lib/libcuda.so" &&
        "$VENV/bin/python" -m pip download -q --no-deps --no-binary pycuda \
            "pycuda==$PYCUDA_VERSION" -d "$tmp" >/dev/null &&
        tar -xzf "$tmp/pycuda-$PYCUDA_VERSION.tar.gz" -C "$tmp" &&
        (cd "$tmp/pycuda-$PYCUDA_VERSION" &&
            "$VENV/bin/python" configure.py --cuda-root="$(dirname "$CUDA_INCLUDE")" \
                --cuda-inc-dir="$CUDA_INCLUDE" --no-cuda-enable-curand \
                --cudadrv-lib-dir="$tmp/lib" >/dev/null &&
            nice "$VENV/bin/python" -m pip wheel -q --no-deps -w "$wheels" . >/dev/null) ||
        ok=1
    rm -rf "$tmp"
    return "$ok"
}

ensure_pycuda() {
    # tests/test_pycuda_surface.py holds the fake pycuda.driver against the real one. pycuda
    # has no wheel on PyPI: it compiles (a few minutes) against the CUDA toolkit's cuda.h,
    # so it is installed only where the toolkit's headers are. The wheel is built once and
    # kept in ~/.cache/edge-app/wheels (per pycuda, CUDA and Python version): a new venv
    # installs it in seconds. Without the toolkit, or if the build fails, the test skips
    # and says why.
    [ -f "$CUDA_INCLUDE/cuda.h" ] || return 0
    "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("pycuda"))' \
        2>/dev/null && return 0
    local cuda_version python_tag wheels wheel
    cuda_version="$(awk '/^#define CUDA_VERSION /{print $3}' "$CUDA_INCLUDE/cuda.h")"
    python_tag="$("$VENV/bin/python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    wheels="${XDG_CACHE_HOME:-$HOME/.cache}/edge-app/wheels/cuda-${cuda_version:-unknown}"
    wheel="$(compgen -G "$wheels/pycuda-$PYCUDA_VERSION-$python_tag-*.whl" | head -n 1 || true)"
    if [ -z "$wheel" ]; then
        say "building pycuda $PYCUDA_VERSION against $CUDA_INCLUDE/cuda.h (once; a few minutes)"
        build_pycuda_wheel "$wheels" || {
            say "pycuda could not be built: tests/test_pycuda_surface.py will be skipped"
            return 0
        }
        wheel="$(compgen -G "$wheels/pycuda-$PYCUDA_VERSION-$python_tag-*.whl" | head -n 1 || true)"
    fi
    [ -n "$wheel" ] && "$VENV/bin/python" -m pip install -q "$wheel" >/dev/null ||
        say "pycuda could not be installed: tests/test_pycuda_surface.py will be skipped"
}
