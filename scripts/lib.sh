# shellcheck shell=sh
# Helpers for scripts/run and scripts/test. Source it.

# ensure_packages LISTFILE: apt-get install what the list names and is missing
# (one package per line, '#' comments). Runs apt-get update only when needed.
ensure_packages() {
    pkgs=$(sed -e 's/#.*//' "$1" | tr -s ' \n' ' ')
    missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing Debian packages:$missing" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "need root to install:$missing" >&2; exit 1; }
        sudo=sudo
    fi
    # policy-rc.d-style: never start services we install (postgresql, nginx, kea ...)
    $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get update -qq
    # shellcheck disable=SC2086  # word list on purpose
    $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends $missing
}

# ensure_venv [EXTRA]: .venv with the project installed (editable), reinstalled when
# pyproject.toml changes. EXTRA is an optional-dependency group (e.g. test).
ensure_venv() {
    extra=${1:-}
    py=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv
    fi
    stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extra:-base}"
    if [ ! -e "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip
        if [ -n "$extra" ]; then
            .venv/bin/python -m pip install -q -e ".[$extra]"
        else
            .venv/bin/python -m pip install -q -e .
        fi
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}
