"""Sign-in security over real HTTP: CSRF, session fixation, cookie flags, lock-out, API tokens, redirects."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from console.people import service as people
from console.store import transaction
from support.web import PASSWORD, csrf_of, seed, serve

UNSAFE_PAGE_POSTS = ["/logout", "/account/tokens", "/people", "/schools"]


def test_login_needs_the_csrf_token_of_the_form(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        client.get("/login")
        reply = client.post("/login", data={"username": "officer", "password": PASSWORD})
        assert reply.status_code == 403 and "CSRF" in reply.text
        reply = client.post("/login", data={"username": "officer", "password": PASSWORD, "csrf_token": "forged"})
        assert reply.status_code == 403
        assert "sg_session" not in client.cookies


def test_state_changing_requests_without_the_session_csrf_token_are_refused(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as web:
        admin = web.login("admin")
        token = csrf_of(admin.get("/account").text)
        for path in [*UNSAFE_PAGE_POSTS, f"/alerts/{ids.alert}/triage", f"/schools/{ids.riverside}/contacts"]:
            assert admin.post(path, data={"name": "x"}).status_code == 403, path
            assert admin.post(path, data={"name": "x", "csrf_token": "wrong"}).status_code == 403, path
        # The same token from a header (htmx) or a form field is accepted.
        reply = admin.post(f"/alerts/{ids.alert}/triage", data={"decision": "monitor"}, headers={"X-CSRF-Token": token})
        assert reply.status_code == 303
        # Another user's token does not work for this session.
        officer = web.login("officer")
        other = csrf_of(officer.get("/account").text)
        assert admin.post("/account/tokens", data={"name": "x", "csrf_token": other}).status_code == 403
        assert admin.post("/account/tokens", data={"name": "x", "csrf_token": token}).status_code == 200


def test_login_issues_a_new_session_id_and_drops_the_one_the_browser_brought(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web:
        victim = web.login("officer")
        fixed = victim.cookies["sg_session"]
        # An attacker's planted id, or the browser's previous session: neither survives a login.
        with web.client() as client:
            client.cookies.set("sg_session", fixed, domain="127.0.0.1")
            token = csrf_of(client.get("/login").text)
            reply = client.post("/login", data={"username": "dsl", "password": PASSWORD, "csrf_token": token})
            assert reply.status_code == 303
            assert client.cookies["sg_session"] != fixed
            assert client.get("/api/me").json()["username"] == "dsl"
        assert victim.get("/api/me").status_code == 401  # the old id is gone

        cookie = victim.get("/login")  # not signed in any more
        assert cookie.status_code == 200


def test_session_cookie_flags_and_logout(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        token = csrf_of(client.get("/login").text)
        reply = client.post("/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token})
        set_cookie = next(v for v in reply.headers.get_list("set-cookie") if v.startswith("sg_session="))
        assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/" in set_cookie
        assert "Secure" not in set_cookie  # plain http here; over https the cookie is Secure
        session_token = csrf_of(client.get("/account").text)
        assert client.post("/logout", data={"csrf_token": session_token}).status_code == 303
        assert client.get("/api/me").status_code == 401
        assert client.get("/alerts").headers["location"] == "/login?next=%2Falerts"


def test_secure_cookie_over_https(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as behind a TLS-terminating proxy.
        https = {"X-Forwarded-Proto": "https"}
        token = csrf_of(client.get("/login", headers=https).text)
        # The login form's cookie is Secure now, so httpx (on plain http) would not send it back by itself.
        reply = client.post("/login", headers={**https, "Cookie": f"sg_login_csrf={token}"},
                            data={"username": "officer", "password": PASSWORD, "csrf_token": token})
        set_cookie = next(v for v in reply.headers.get_list("set-cookie") if v.startswith("sg_session="))
        assert "Secure" in set_cookie


def test_repeated_failures_lock_the_account(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    # The threshold is a setting, read on every login: three here, not the default five.
    with serve(sessions, tmp_path, max_failed_logins=3) as web, web.client() as client:
        token = csrf_of(client.get("/login").text)
        for _ in range(2):
            reply = client.post("/login", data={"username": "officer", "password": "wrong password", "csrf_token": token})
            assert reply.status_code == 401 and "wrong username or password" in reply.text
        reply = client.post("/login", data={"username": "officer", "password": "wrong password", "csrf_token": token})
        assert "locked" in reply.text
        # Even the right password is refused while locked.
        reply = client.post("/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token})
        assert reply.status_code == 401 and "locked" in reply.text
        with transaction(sessions) as session:
            user = people.get_by_username(session=session, username="officer")
            assert user is not None and user.locked_until is not None
            people.unlock(user=user)
        assert client.post("/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token}).status_code == 303


def test_api_tokens_for_scripts(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web:
        browser = web.login("officer")
        page = browser.post("/account/tokens", data={"name": "nightly export", "csrf_token": csrf_of(browser.get("/account").text)})
        token = re.search(r'<code id="new-token">([^<]+)</code>', page.text).group(1)
        with httpx.Client(base_url=web.url) as script:
            headers = {"Authorization": f"Bearer {token}"}
            assert script.get("/api/me", headers=headers).json()["username"] == "officer"
            assert script.get("/api/alerts", headers=headers).status_code == 200
            assert script.get("/api/me", headers={"Authorization": "Bearer sgk_forged"}).status_code == 401
            token_id = re.search(r'/account/tokens/(\d+)/revoke', browser.get("/account").text).group(1)
            assert browser.post(f"/account/tokens/{token_id}/revoke",
                                data={"csrf_token": csrf_of(browser.get("/account").text)}).status_code == 303
            assert script.get("/api/me", headers=headers).status_code == 401


def test_next_after_login_stays_on_this_site(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        for target, expected in (("/alerts?status=new", "/alerts?status=new"), ("https://evil.example/", "/"),
                                 ("//evil.example/", "/")):
            token = csrf_of(client.get("/login").text)
            reply = client.post("/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token,
                                                "next": target})
            assert reply.headers["location"] == expected
