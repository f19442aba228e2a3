#!/usr/bin/env bash
# Prepares this machine to build, test, demo and benchmark radmfa. Safe to re-run:
# each step checks first and acts only when something is missing (a second run
# takes well under 3 s).
#   * Debian packages for the real test peers: FreeRADIUS, radclient, slapd, ldap-utils,
#     radsecproxy (RadSec peer)
#     (waiting up to 5 minutes when another apt or dpkg holds the package manager)
#   * the system FreeRADIUS and slapd services stopped and disabled, so the
#     tests' private instances own their ports (1812, 389)
#   * PostgreSQL answering on 127.0.0.1:5432
#   * .venv with Python >= 3.11 and `pip install -e '.[test]'`, redone
#     only when pyproject.toml changed
#   * the portals' browser tests: Debian's chromium (driven by the pip
#     package playwright; no browser download) and axe-core from npm in
#     .web-test/ (the accessibility check injects its axe.min.js)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.radmfa-pyproject.sha256"
PEER_PACKAGES=(freeradius freeradius-utils slapd ldap-utils chromium radsecproxy)
WEB_TEST="$ROOT/.web-test"
AXE_VERSION="4.10"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'die "line $LINENO failed: $BASH_COMMAND"' ERR

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: run as root to install packages"
    SUDO=(sudo)
fi

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# Another apt or dpkg (unattended-upgrades on a fresh machine, an admin's
# install) may hold the package manager's locks: wait for it, up to this long.
APT_LOCK_WAIT_S=300

# apt-get, waiting for the dpkg lock (DPkg::Lock::Timeout, apt >= 1.9.11) rather
# than failing at once.
apt_get() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" "$@"
}

# apt-get update takes the package lists' lock, which DPkg::Lock::Timeout does
# not cover (apt 2.6 fails at once), so it is retried while that lock is held.
apt_update() {
    local deadline=$((SECONDS + APT_LOCK_WAIT_S)) output status
    while :; do
        status=0
        output=$(apt_get update -q 2>&1) || status=$?
        printf '%s\n' "$output"
        [ "$status" -ne 0 ] || return 0
        case $output in *"Could not get lock"*) ;; *) return "$status" ;; esac
        [ "$SECONDS" -lt "$deadline" ] || return "$status"
        say "another apt or dpkg holds the package lists; waiting (up to ${APT_LOCK_WAIT_S} s in all)"
        sleep 5
    done
}

APT_UPDATED=no
apt_install() {
    if [ "$APT_UPDATED" = no ]; then
        say "apt-get update"
        apt_update || die "apt-get update failed"
        APT_UPDATED=yes
    fi
    # Keep the packages' init scripts from starting daemons during the install
    # (policy-rc.d exit 101 = "not allowed"), unless the machine already has a policy.
    local policy=/usr/sbin/policy-rc.d ours=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        ours=yes
    fi
    say "apt-get install $*"
    local status=0
    apt_get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" || status=$?
    if [ "$ours" = yes ]; then "${SUDO[@]}" rm -f "$policy"; fi
    [ "$status" -eq 0 ] || die "apt-get install $* failed (exit $status)"
}

# Process ids of the system's own daemon `name`, told apart from the tests'
# private instances by their configuration directory.
system_daemon_pids() {
    local name=$1 pid cmd
    for pid in $(pgrep -x "$name" || true); do
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        case "$name:$cmd" in
            freeradius:*" -d /etc/freeradius"*) echo "$pid" ;;
            freeradius:*" -d "*) ;;
            freeradius:*) echo "$pid" ;;
            slapd:*" -F /etc/ldap/"*|slapd:*" -f /etc/ldap/"*) echo "$pid" ;;
            slapd:*" -F "*|slapd:*" -f "*) ;;
            slapd:*) echo "$pid" ;;
        esac
    done
}

stop_system_service() {
    local name=$1 pids
    if compgen -G "/etc/rc[2-5].d/S*$name" >/dev/null; then
        say "disabling the system $name service"
        "${SUDO[@]}" update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
    if [ -d /run/systemd/system ] && systemctl is-enabled --quiet "$name" 2>/dev/null; then
        say "disabling the system $name service (systemd)"
        "${SUDO[@]}" systemctl disable --now "$name" || true
    fi
    pids=$(system_daemon_pids "$name")
    [ -n "$pids" ] || return 0
    say "stopping the system $name (pid $(echo $pids)) so the tests own its port"
    "${SUDO[@]}" service "$name" stop >/dev/null 2>&1 || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(system_daemon_pids "$name")
        [ -n "$pids" ] || return 0
        "${SUDO[@]}" kill $pids 2>/dev/null || true
        sleep 0.5
    done
    pids=$(system_daemon_pids "$name")
    [ -z "$pids" ] || "${SUDO[@]}" kill -9 $pids 2>/dev/null || true
}

postgres_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
    postgres_up && return 0
    if ! compgen -G "/etc/postgresql/*/main" >/dev/null; then
        installed postgresql || apt_install postgresql
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is installed but /etc/postgresql has no cluster"
    say "starting PostgreSQL $version/main"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 50); do
        postgres_up && return 0
        sleep 0.2
    done
    die "PostgreSQL does not answer on 127.0.0.1:5432 (see /var/log/postgresql/)"
}

good_python() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null && good_python "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && ! good_python "$VENV/bin/python"; then
        say "$VENV has no working Python >= 3.11: recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python=$(find_python) || { apt_install python3 python3-venv; python=$(find_python); } \
            || die "no Python >= 3.11 with the venv module on this machine"
        say "creating $VENV with $python ($("$python" -V 2>&1))"
        "$python" -m venv "$VENV"
    fi
    local want have=""
    want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
    [ -f "$STAMP" ] && have=$(cat "$STAMP")
    if [ "$want" = "$have" ] && "$VENV/bin/python" -c 'import radmfa, pytest' 2>/dev/null; then
        say "$VENV is current with pyproject.toml"
        return 0
    fi
    say "pip install -e '.[test]' into $VENV"
    (cd "$ROOT" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]')
    echo "$want" >"$STAMP"
}

ensure_axe() {
    if [ -f "$WEB_TEST/node_modules/axe-core/axe.min.js" ]; then
        say "axe-core present in $WEB_TEST"
        return 0
    fi
    command -v npm >/dev/null || apt_install nodejs npm
    say "npm install axe-core@$AXE_VERSION into $WEB_TEST"
    mkdir -p "$WEB_TEST"
    (cd "$WEB_TEST" && npm install --silent --no-audit --no-fund --prefix "$WEB_TEST" "axe-core@$AXE_VERSION") \
        || die "npm install axe-core failed"
}

main() {
    # Two runs at once (say, `make test` in two shells) must not pip-install together.
    exec 9>"/tmp/radmfa-setup-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12).lock"
    flock 9

    local missing=() package
    for package in "${PEER_PACKAGES[@]}"; do
        installed "$package" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    else
        say "Debian packages present: ${PEER_PACKAGES[*]}"
    fi
    stop_system_service freeradius
    stop_system_service slapd
    ensure_postgres
    say "PostgreSQL answers on 127.0.0.1:5432"
    ensure_venv
    ensure_axe
    say "done"
}

# Sourced (by the tests), it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
