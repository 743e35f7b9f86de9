set -eu
want="$1"; src="$2"; tag="$3"
py=""
for c in "/opt/python/$tag-$tag/bin/python3" "/var/lang/bin/python$want" "python$want" python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; v = '%d.%d' % sys.version_info[:2]; sys.exit(v != '$want')" 2>/dev/null; then py=$c; break; fi
done
[ -n "$py" ] || { echo "no Python $want in this image" >&2; exit 97; }
"$py" -m pip --version >/dev/null 2>&1 || "$py" -m ensurepip -q >/dev/null 2>&1 ||   { echo "no pip for $py in this image" >&2; exit 98; }
if [ -d "$src" ]; then cp -a "$src" /tmp/fpack-src; src=/tmp/fpack-src; fi
"$py" -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check   --wheel-dir /tmp/fpack-out "$src"
mkdir -p /out
cp /tmp/fpack-out/*.whl /out/
