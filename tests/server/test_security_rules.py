"""The rules behind the browser-facing defences (the browser tests are in
tests/ui/test_security.py): which Host names are answered, which origins match, what a
session value must be, and what a served chart spec keeps."""

from __future__ import annotations

import time
from pathlib import Path

from flightlog.format.chart_safety import safe_spec
from flightlog.server.security import HostPolicy, Sessions, same_origin


def test_host_policy_answers_loopback_ips_and_named_hosts_only() -> None:
    policy = HostPolicy("127.0.0.1", ["runs.example.org", ".corp.example"])
    for host in ("127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "10.1.2.3",
                 "runs.example.org", "runs.example.org:443", "a.b.corp.example",
                 "corp.example", "localhost."):
        assert policy.allows(host), host
    for host in ("evil.example", "evil.example:8080", "runs.example.org.evil.example",
                 "xcorp.example", "", None, "localhost.evil.example"):
        assert not policy.allows(host), host
    assert HostPolicy("127.0.0.1", ["*"]).allows("anything.example")
    # Bound to a name: that name is answered too.
    assert HostPolicy("flightlog.internal").allows("flightlog.internal:8080")


def test_same_origin_compares_host_and_port() -> None:
    assert same_origin("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert same_origin("http://localhost", "localhost:80")
    assert same_origin("https://runs.example", "runs.example")
    assert not same_origin("http://127.0.0.1:9999", "127.0.0.1:8080")  # another port
    assert not same_origin("http://localhost:8080", "127.0.0.1:8080")
    assert not same_origin("null", "127.0.0.1:8080")  # a sandboxed frame, a data: page
    assert not same_origin("http://127.0.0.1:bad", "127.0.0.1:8080")


def test_sessions_are_random_signed_expiring_and_revocable(tmp_path: Path) -> None:
    revoked = tmp_path / "sessions" / "revoked"
    sessions = Sessions("tok", revoked)
    one, two = sessions.issue(), sessions.issue()
    assert one != two and sessions.valid(one) and sessions.valid(two)
    assert not Sessions("other token", revoked).valid(one)  # keyed by the token
    tampered = one[:-1] + ("0" if one[-1] != "0" else "1")
    assert not sessions.valid(tampered) and not sessions.valid("v2.x.1.y")
    sessions.revoke(one)
    assert not sessions.valid(one) and sessions.valid(two)
    # Another process serving the same data directory sees the logout.
    assert not Sessions("tok", revoked).valid(one)
    expired = Sessions("tok", None, lifetime=-1).issue()
    assert not Sessions("tok", None).valid(expired)
    assert int(two.split(".")[2]) > time.time()


def test_safe_spec_strips_what_reaches_outside_and_keeps_the_rest() -> None:
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "usermeta": {"embedOptions": {"actions": True}},
        "data": {"values": [{"x": 1}]},
        "config": {"events": {"selector": True}, "axis": {"grid": False}},
        "layer": [
            {"mark": {"type": "image", "url": "http://127.0.0.1:1/i.png"}},
            {"data": {"url": "/api/v1/projects", "format": {"type": "json"}}, "mark": "point"},
            {"mark": "image", "encoding": {"url": {"value": "https://x.example/a.png"},
                                           "href": {"field": "u"}}},
            {"mark": "image", "encoding": {"url": {"field": "u"}}},
            {"mark": {"type": "image", "url": "data:image/png;base64,AAAA"}},
        ],
    }
    cleaned, removed = safe_spec(spec)
    assert sorted(removed) == sorted(["/usermeta", "/config/events", "/layer/0/mark/url",
                                      "/layer/1/data/url", "/layer/2/encoding/url",
                                      "/layer/2/encoding/href"])
    assert cleaned["layer"][1]["data"] == {"format": {"type": "json"}, "values": []}
    assert cleaned["layer"][3]["encoding"]["url"] == {"field": "u"}  # the loader's job
    assert cleaned["layer"][4]["mark"]["url"].startswith("data:image/png")
    assert cleaned["config"] == {"axis": {"grid": False}}
    assert cleaned["$schema"] == spec["$schema"] and cleaned["data"] == spec["data"]
    assert safe_spec(spec)[0] == safe_spec(cleaned)[0] and safe_spec(cleaned)[1] == []
    assert safe_spec("a url")[0] == {}
