#!/usr/bin/env bash
# The wheel of scripts/wheel (dist/), installed as a user would install it:
# into a fresh virtualenv, from the file only (--no-index --only-binary),
# with no Rust toolchain on PATH (any cargo or rustup directory removed,
# CARGO_HOME and RUSTUP_HOME pointing nowhere) and a clean environment;
# then examples/quickstart.py and the Python tests (tests/python) run
# against the installed package from outside the source tree, and the
# module must be the venv's copy. Prints the wheel's tag, size and the
# newest glibc symbol version its extension needs.
# Usage: tests/wheel/run.sh   (after scripts/wheel)
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
shopt -s nullglob
wheels=(dist/cyberfly_store-*-cp39-abi3-manylinux_*.whl)
[ ${#wheels[@]} -eq 1 ] || { echo "expected one manylinux wheel in dist/ (scripts/wheel), found ${#wheels[@]}" >&2; exit 1; }
whl="$root/${wheels[0]}"
work="$root/target/wheeltest"
rm -rf "$work"
mkdir -p "$work/home" "$work/tmp"
py="$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')"

clean_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e cargo -e rustup -e '\.venv' | paste -sd: -)"
run() {
  env -i HOME="$work/home" TMPDIR="$work/tmp" PATH="$work/venv/bin:$clean_path" LANG=C.UTF-8 \
    CARGO_HOME=/nonexistent RUSTUP_HOME=/nonexistent "$@"
}
if run sh -c 'command -v cargo || command -v rustc'; then
  echo "a Rust toolchain is still on PATH" >&2; exit 1
fi

echo "== $(basename "$whl"): $(du -k "$whl" | cut -f1) KiB"
# (python's zipfile, not unzip, which a machine may lack)
ext="$("$py" - "$whl" "$work/unpacked" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.endswith(".dist-info/WHEEL"):
        print([l for l in z.read(n).decode().splitlines() if l.startswith("Tag:")][0], file=sys.stderr)
so = [n for n in z.namelist() if "_native" in n and n.endswith(".so")][0]
z.extract(so, sys.argv[2])
print(so)
PY
)"
echo "newest glibc symbol version needed: $(objdump -T "$work/unpacked/$ext" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)"

"$py" -m venv "$work/venv"
run python -m pip --disable-pip-version-check -q install --no-index --only-binary :all: "$whl"
# The Python tests' own dependencies (PyPI): not the package.
run python -m pip --disable-pip-version-check -q install pytest pytest-asyncio prometheus_client

cd "$work"
where="$(run python -c 'import cyberfly_store._native as m; print(m.__file__)')"
case "$where" in
  "$work/venv/"*) echo "module: $where" ;;
  *) echo "cyberfly_store was imported from $where, not the venv" >&2; exit 1 ;;
esac
run python "$root/examples/quickstart.py" "$work/tmp/store" | tail -n 3
# The tests from a copy outside the source tree, so that nothing of it is importable.
# (tests/python/test_examples.py reads README.md and examples/ two levels up)
mkdir -p "$work/tree/tests" "$work/tree/examples"
cp -r "$root/tests/python" "$work/tree/tests/python"
cp "$root/examples/"*.py "$work/tree/examples/"
cp "$root/README.md" "$work/tree/"
# The differential test against redis-server (redis-py) and the notebook
# test (nbclient, ipykernel, matplotlib) check the API, not the package, and
# need large extra installs: they run against the source tree's build only.
run python -m pytest -q -p no:cacheprovider -o asyncio_mode=auto \
  -o asyncio_default_fixture_loop_scope=function "$work/tree/tests/python" \
  --ignore="$work/tree/tests/python/test_redis_differential.py" \
  --ignore="$work/tree/tests/python/test_notebook.py"
cd "$root"
rm -rf "$work"
echo "wheel: ok"
