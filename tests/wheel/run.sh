#!/usr/bin/env bash
# The wheel of scripts/wheel (dist/), installed as a user would install it:
# into a fresh virtualenv, from the file only (--no-index --only-binary),
# with no Rust toolchain on PATH (any cargo or rustup directory removed,
# CARGO_HOME and RUSTUP_HOME pointing nowhere) and a clean environment;
# then examples/quickstart.py and the Python tests (tests/python) run
# against the installed package from outside the source tree, and the
# module must be the venv's copy. Prints the wheel's tag, size and the
# newest glibc symbol version its extension needs, which must be at most
# GLIBC_2.28 (the manylinux_2_28 floor).
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
# The glibc floor (manylinux_2_28): no symbol version newer than GLIBC_2.28,
# and no strong undefined symbol without a version other than the Python
# API's (Py*, _Py*: the interpreter provides them). An unversioned libc
# symbol would mean that C code compiled against the host's newer headers
# asked for a function zig's glibc 2.28 stubs do not have: the link lets it
# through, the loader of an old system would not. (Weak ones, such as Rust
# std's gettid, are looked up and may be absent.)
floor=2.28
so="$work/unpacked/$ext"
newest="$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)"
echo "newest glibc symbol version needed: $newest (floor: GLIBC_$floor)"
if [ "$(printf '%s\n' "GLIBC_$floor" "$newest" | sort -V | tail -n1)" != "GLIBC_$floor" ]; then
  echo "the extension needs $newest, newer than the wheel's floor GLIBC_$floor" >&2; exit 1
fi
unversioned="$(objdump -T "$so" | awk '$2 != "w" && / \*UND\*/ && $0 !~ /\(/ { print $NF }' | grep -v -e '^Py' -e '^_Py' || true)"
if [ -n "$unversioned" ]; then
  echo "undefined symbols without a version (not Python's):" $unversioned >&2; exit 1
fi

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
