#!/usr/bin/env bash
# Check a `ripcord timeline --format html` page in real headless Chromium (Debian's chromium):
# render it, save a screenshot (screen and print media) and a PDF, and fail if the page logs a
# console error, throws, or requests anything that is not the file itself (the page must be
# self-contained: no CDN, no fonts from elsewhere).
#
#   scripts/check-timeline-html.sh                 # timeline of the recorded fixture journal
#   scripts/check-timeline-html.sh PAGE.html [OUT_DIR]
#
# Without PAGE.html it builds ripcord, renders the fixture's failed incident run
# (tests/fixtures/timeline/runs) and checks that. It then proves the check itself works: a copy
# of the page with an injected `console.error` must fail it.
#
# Needs chromium and python3 (for the DevTools protocol over --remote-debugging-pipe). When
# chromium is missing it is installed with `apt-get install -y chromium`, which needs root.
# Output: OUT_DIR (default target/timeline-check) gets screen.png, print.png, page.pdf.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "error: chromium is not installed and installing it (apt-get install -y chromium) needs root" >&2
        exit 2
    fi
    echo "installing chromium (apt-get install -y chromium)..." >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
command -v python3 >/dev/null 2>&1 || { echo "error: python3 is needed" >&2; exit 2; }

self_test=0
if [ $# -ge 1 ]; then
    page="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    out="${2:-$root/target/timeline-check}"
else
    out="$root/target/timeline-check"
    mkdir -p "$out"
    (cd "$root" && cargo build -q -p ripcord-cli)
    run="$(ls "$root/tests/fixtures/timeline/runs" | head -1)"
    page="$out/timeline.html"
    "$root/target/debug/ripcord" timeline "$run" --format html -o "$page" \
        --runs-dir "$root/tests/fixtures/timeline/runs" \
        --runbook "$root/tests/fixtures/timeline/restore-drill.yaml"
    self_test=1
fi
mkdir -p "$out"

check() { # check PAGE OUT_DIR -> exit status of the checker
    local profile
    profile="$(mktemp -d)"
    CHROMIUM_FLAGS_EXTRA="--user-data-dir=$profile" python3 - "$1" "$2" <<'PY'
import base64, json, os, select, subprocess, sys, time

page, out = os.path.abspath(sys.argv[1]), sys.argv[2]
flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe",
         os.environ["CHROMIUM_FLAGS_EXTRA"]]
# Chromium reads commands on fd 3 and writes replies on fd 4.
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()

def child():
    # Via fresh copies: dup2 onto the same number would keep close-on-exec.
    a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
    os.dup2(a, 3)
    os.dup2(b, 4)

proc = subprocess.Popen(["chromium", *flags, "about:blank"], preexec_fn=child, close_fds=False,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_chrome_r)
os.close(from_chrome_w)
buf, ids, events, problems = b"", [0], [], []

def send(method, params=None, session=None):
    ids[0] += 1
    msg = {"id": ids[0], "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
    return ids[0]

def pump(timeout):
    """Read messages for up to `timeout` seconds; returns them."""
    global buf
    got, end = [], time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            return got
        ready, _, _ = select.select([from_chrome_r], [], [], left)
        if not ready:
            return got
        chunk = os.read(from_chrome_r, 1 << 20)
        if not chunk:
            raise SystemExit("error: chromium exited")
        buf += chunk
        while b"\0" in buf:
            raw, buf = buf.split(b"\0", 1)
            msg = json.loads(raw)
            got.append(msg)
            if "method" in msg:
                events.append(msg)
        if got and timeout == 0:
            return got

def call(method, params=None, session=None, timeout=30):
    want = send(method, params, session)
    end = time.time() + timeout
    while time.time() < end:
        for msg in pump(0.2):
            if msg.get("id") == want:
                if "error" in msg:
                    raise SystemExit(f"error: {method}: {msg['error']}")
                return msg.get("result", {})
    raise SystemExit(f"error: {method} timed out")

try:
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        call(f"{domain}.enable", session=session)
    call("Emulation.setDeviceMetricsOverride",
         {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
    call("Page.navigate", {"url": "file://" + page}, session)
    deadline = time.time() + 30
    while not any(e["method"] == "Page.loadEventFired" for e in events):
        if time.time() > deadline:
            raise SystemExit("error: the page did not finish loading in 30 s")
        pump(0.2)
    pump(0.5)  # late console messages

    def shot(name):
        size = call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000),
                "scale": 1}
        data = call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                               "clip": clip}, session)["data"]
        with open(os.path.join(out, name), "wb") as f:
            f.write(base64.b64decode(data))
        return size

    size = shot("screen.png")
    call("Emulation.setEmulatedMedia", {"media": "print"}, session)
    shot("print.png")
    call("Emulation.setEmulatedMedia", {"media": ""}, session)
    pdf = call("Page.printToPDF", {"landscape": True, "printBackground": True}, session,
               timeout=60)["data"]
    with open(os.path.join(out, "page.pdf"), "wb") as f:
        f.write(base64.b64decode(pdf))
    pump(0.3)

    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            problems.append(f"console.{p['type']}: {text}")
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            problems.append("uncaught exception: " + d.get("exception", {}).get("description", d.get("text", "?")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            problems.append("log error: " + p["entry"].get("text", "?"))
        elif m == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                problems.append(f"external request (the page must be self-contained): {url}")
        elif m == "Network.loadingFailed":
            problems.append("failed load: " + p.get("errorText", "?"))
    print(f"rendered {page} ({int(size['width'])}x{int(size['height'])} CSS px) -> "
          f"{out}/screen.png, print.png, page.pdf")
finally:
    try:
        send("Browser.close")
        proc.wait(timeout=10)
    except Exception:
        proc.kill()

if problems:
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    sys.exit(1)
print("no console errors, no exceptions, no external requests")
PY
    local status=$?
    rm -rf "$profile"
    return $status
}

status=0
check "$page" "$out" || status=$?
if [ "$status" != 0 ]; then
    echo "FAILED: $page" >&2
    exit "$status"
fi

if [ "$self_test" = 1 ]; then
    # The check must catch what it is for: a page that logs a console error.
    bad="$out/injected-error.html"
    sed 's|</body>|<script>console.error("injected by the self-test")</script></body>|' "$page" >"$bad"
    mkdir -p "$out/injected"
    if check "$bad" "$out/injected" 2>"$out/injected/stderr"; then
        echo "FAILED: the self-test's injected console.error was not detected" >&2
        exit 1
    fi
    grep -q 'console.error: injected by the self-test' "$out/injected/stderr" || {
        echo "FAILED: the self-test failed for another reason:" >&2
        cat "$out/injected/stderr" >&2
        exit 1
    }
    echo "self-test: an injected console.error is detected"
fi
echo "OK: $page"
