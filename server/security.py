"""What a browser can make the server do, and what it may not: the Host allow-list, the
cross-origin guard on state-changing requests, the pages' Content-Security-Policy, and
the UI's login sessions.

Invariants (README "Security model"):

- A request whose ``Host`` is a DNS name that is not allowed is refused (421) before
  anything else runs: a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1)
  reaches the server with its own name in ``Host``. IP literals are always allowed (a
  page that names an IP is that IP's own origin, not a rebinding), as are ``localhost``,
  the name the server is bound to and every ``--allowed-host``.
- A state-changing request (POST, PUT, PATCH, DELETE) that a browser made from another
  origin is refused (403): browsers send ``Origin`` (and ``Sec-Fetch-Site``) on every
  such request, and neither can be forged by a page. One that rides on the session
  cookie must moreover prove it comes from the UI's own origin (a matching ``Origin``
  or the ``X-Flightlog-Request`` header, which no cross-origin page can add without a
  CORS preflight, which this server never grants).
- ``POST .../frames`` takes only ``application/octet-stream`` bodies (what the sync
  client sends): a body type a cross-origin form or ``no-cors`` fetch can send without
  a preflight is refused (415).
- Bearer-token requests (the sync daemon, ``Api``) carry no cookie and are not subject
  to the cookie rule; the token itself is the proof.
- Sessions are ``v2.<random id>.<expiry>.<HMAC>``, keyed by a key derived from the server
  token: any replica with the same token verifies them without shared state, a new
  token ends every session, and ``/logout`` revokes the id in a revocation list kept in
  the data directory (``DIR/sessions/revoked``, one line per logout, read back by every
  process that serves that directory; expired entries are ignored).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

__all__ = ["CSRF_HEADER", "PAGE_CSP", "SESSION_COOKIE", "HostPolicy", "Sessions",
           "install_guard"]

SESSION_COOKIE = "flightlog_session"
#: The header the UI's own scripts add to a state-changing request (any value).
CSRF_HEADER = "x-flightlog-request"
#: Seconds a login lasts.
SESSION_LIFETIME = 12 * 3600
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Body types a state-changing API request must carry, by the path's last part.
REQUIRED_BODY_TYPES = {"frames": "application/octet-stream"}
#: The UI pages' policy: scripts, styles, data and frames from this origin only; images
#: also as data:/blob: URIs (inlined thumbnails, canvas exports); no page may frame them.
#: Vega runs under it because every chart is embedded with its CSP-safe expression
#: interpreter (``ast: true``, bundled in vega-embed); styles allow 'unsafe-inline' for
#: the <style> elements and style attributes that vega-embed, vega's SVG and plotly set.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
            "frame-src 'self'; media-src 'self' data: blob:; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})


# ---------------------------------------------------------------- Host allow-list


def _split_host(value: str) -> tuple[str, str]:
    """``host[:port]`` (IPv6 in brackets) as (lower-case host, port or "")."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, ""
        return value[1:end], value[end + 2:] if value[end + 1:end + 2] == ":" else ""
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port
    return value, ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which ``Host`` header values the server answers.

    Args:
        bound: the address the server listens on (``--host``).
        allowed: more names (``--allowed-host``): ``name`` exactly, ``.example.com`` for
            it and every subdomain, ``*`` for any host (turns the check off).
    """

    def __init__(self, bound: str | None = None, allowed: Iterable[str] = ()) -> None:
        names = {"localhost"}
        extra = [a.strip().lower() for a in allowed if a.strip()]
        self.any = "*" in extra
        names.update(a for a in extra if not a.startswith("."))
        self.suffixes = tuple(a for a in extra if a.startswith("."))
        bound_host = _split_host(bound or "")[0]
        if bound_host in _WILDCARD_BINDS:
            # Listening everywhere: the machine's own names are how users reach it.
            names.update(n.lower() for n in (socket.gethostname(), socket.getfqdn()) if n)
        else:
            names.add(bound_host)
        self.names = frozenset(names)

    def allows(self, host_header: str | None) -> bool:
        if self.any:
            return True
        if not host_header:
            return False
        host = _split_host(host_header)[0].rstrip(".")
        if _is_ip(host) or host in self.names:
            return True
        return any(host.endswith(s) or host == s[1:] for s in self.suffixes)


# ---------------------------------------------------------------- origin checks


def same_origin(origin: str, host_header: str) -> bool:
    """Whether ``Origin`` names the origin this request was sent to (its ``Host``).
    Compared on host and port only: behind a TLS-terminating proxy the scheme seen here
    is not the browser's."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        origin_port = parts.port or default
    except ValueError:
        return False
    here_host, here_port = _split_host(host_header)
    here = int(here_port) if here_port.isdigit() else default
    return bool(parts.hostname) and parts.hostname == here_host and origin_port == here


def csrf_refusal(request: Request, session_cookie_present: bool) -> str | None:
    """Why this state-changing request must be refused, or None."""
    if request.method not in UNSAFE_METHODS:
        return None
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, host):
        return f"cross-origin request from {origin!r} refused"
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site"):
        return f"request from another site or port refused (Sec-Fetch-Site: {fetch_site})"
    uses_cookie = session_cookie_present and "authorization" not in request.headers
    if uses_cookie and origin is None and CSRF_HEADER not in request.headers:
        return (f"a request authenticated by the session cookie needs a matching Origin "
                f"or the {CSRF_HEADER} header")
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    required = REQUIRED_BODY_TYPES.get(last) if request.url.path.startswith("/api/") else None
    if required is not None:
        given = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given != required:
            return f"415:{request.url.path} takes Content-Type {required}, not {given or 'none'}"
    return None


def install_guard(app: FastAPI, hosts: HostPolicy) -> None:
    """Register the outermost middleware: Host check, cross-origin refusal, and the
    security headers of every HTML answer. Call it after every other middleware."""

    @app.middleware("http")
    async def guard(request: Request,
                    call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = request.headers.get("host")
        if not hosts.allows(host):
            return JSONResponse({"error": "misdirected", "message":
                                 f"this server does not answer for host {host!r} (add it "
                                 f"with flightlog server --allowed-host)"}, status_code=421)
        refusal = csrf_refusal(request, SESSION_COOKIE in request.cookies)
        if refusal is not None:
            status = 415 if refusal.startswith("415:") else 403
            message = refusal.removeprefix("415:")
            return JSONResponse({"error": "unsupported-media-type" if status == 415
                                 else "forbidden", "message": message}, status_code=status)
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("x-content-type-options", "nosniff")
        if headers.get("content-type", "").startswith("text/html"):
            # Attached HTML media come with their own sandbox policy: kept as they are.
            headers.setdefault("content-security-policy", PAGE_CSP)
            # Not "no-referrer": under it a browser sends "Origin: null" even on the
            # UI's own form posts, which the origin check must then refuse.
            headers.setdefault("referrer-policy", "same-origin")
        return response


# ---------------------------------------------------------------- sessions


class Sessions:
    """Signed, expiring login sessions with a revocation list.

    Args:
        token: the server's bearer token (the signing key is derived from it).
        revoked_path: the revocation list's file (shared by every server process of a
            data directory); ``None`` keeps it in memory only.
        lifetime: seconds a session lasts.
    """

    def __init__(self, token: str, revoked_path: Path | None = None,
                 lifetime: float = SESSION_LIFETIME) -> None:
        self._key = hmac.new(token.encode(), b"flightlog-ui-session-v2",
                             hashlib.sha256).digest()
        self._path = revoked_path
        self._lifetime = lifetime
        self._revoked: dict[str, int] = {}  # session id -> its expiry
        self._seen: tuple[int, int] | None = None  # (size, mtime_ns) of the file read
        self._lock = threading.Lock()

    def _mac(self, session_id: str, expiry: int) -> str:
        return hmac.new(self._key, f"v2.{session_id}.{expiry}".encode(),
                        hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A new session value (a random id, never issued before)."""
        session_id = secrets.token_hex(16)
        expiry = int(time.time() + self._lifetime)
        return f"v2.{session_id}.{expiry}.{self._mac(session_id, expiry)}"

    def _parse(self, value: str) -> tuple[str, int] | None:
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != "v2" or len(parts[1]) != 32:
            return None
        try:
            expiry = int(parts[2])
        except ValueError:
            return None
        if not hmac.compare_digest(parts[3].encode(), self._mac(parts[1], expiry).encode()):
            return None
        return parts[1], expiry

    def valid(self, value: str) -> bool:
        """Signed by this server's token, not expired, not logged out."""
        parsed = self._parse(value)
        if parsed is None or parsed[1] < time.time():
            return False
        with self._lock:
            self._reload()
            return parsed[0] not in self._revoked

    def revoke(self, value: str) -> None:
        """End the session ``value`` (a value that is not a valid session is ignored)."""
        parsed = self._parse(value)
        if parsed is None:
            return
        with self._lock:
            self._revoked[parsed[0]] = parsed[1]
            if self._path is None:
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # One short O_APPEND write per logout: concurrent writers never interleave.
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, f"{parsed[0]} {parsed[1]}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def _reload(self) -> None:
        """Read the revocation list again when another process (or this one) grew it."""
        now = time.time()
        self._revoked = {k: v for k, v in self._revoked.items() if v >= now}
        if self._path is None:
            return
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return
        seen = (stat.st_size, stat.st_mtime_ns)
        if seen == self._seen:
            return
        self._seen = seen
        for line in self._path.read_text(encoding="ascii", errors="replace").splitlines():
            session_id, _, expiry = line.partition(" ")
            if expiry.isdigit() and int(expiry) >= now:
                self._revoked[session_id] = int(expiry)
