#!/usr/bin/env bash
# scripts/screenshot.sh URL OUT.png [COOKIE]
# Headless Chromium screenshot at 1280x900. COOKIE ("name=value", e.g. a session cookie) is set for
# URL's origin first; that needs selenium (make test-deps), because the chromium CLI cannot set cookies.
set -euo pipefail
if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 URL OUT.png [COOKIE]" >&2
  exit 2
fi
url=$1 out=$2 cookie=${3:-}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

if [[ -z $cookie ]]; then
  timeout 60 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1280,900 \
    --screenshot="$out" "$url" 2>"$profile/chromium.log" || { cat "$profile/chromium.log" >&2; exit 1; }
else
  URL=$url OUT=$out COOKIE=$cookie PROFILE=$profile timeout 60 python3 - <<'PY'
import os
from urllib.parse import urlsplit
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

url, out, cookie = os.environ["URL"], os.environ["OUT"], os.environ["COOKIE"]
name, _, value = cookie.partition("=")
o = Options()
o.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--hide-scrollbars", "--window-size=1280,900", "--user-data-dir=" + os.environ["PROFILE"]):
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    p = urlsplit(url)
    d.get(f"{p.scheme}://{p.netloc}/favicon.ico")  # any page on the origin, so the cookie can be set
    d.add_cookie({"name": name.strip(), "value": value.strip(), "path": "/"})
    d.get(url)
    d.save_screenshot(out)
finally:
    d.quit()
PY
fi
[[ -s $out ]] || { echo "screenshot.sh: no image written to $out" >&2; exit 1; }
echo "$out"
