#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (Rasa 3.6 needs 3.8–3.10), or
# explains on stderr what to install and exits 1.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
candidates+=(python3.10)
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
  for p in "$root"/versions/3.10*/bin/python3.10; do [ -x "$p" ] && candidates+=("$p"); done
fi
candidates+=(/usr/local/bin/python3.10 /usr/bin/python3.10)
for c in "${candidates[@]}"; do
  path=$(command -v "$c" 2>/dev/null) || continue
  if ok "$path"; then echo "$path"; exit 0; fi
done
echo "error: Python 3.10 not found (Rasa 3.6 needs it). Install it (e.g. 'pyenv install 3.10' or Debian's python3.10) or set PYTHON310=/path/to/python3.10; or run the system with docker compose (see README)." >&2
exit 1
