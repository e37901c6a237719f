"""The admin is the console shell: French by default, English on request, CSP nonces, CSRF for HTMX."""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from apps.core.capabilities import CAPABILITY_GROUPS

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    user = User.objects.create_user("camille", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=CAPABILITY_GROUPS["view_console"]))
    return user


def nonce_of(response):
    policy = response.headers["Content-Security-Policy"]
    match = re.search(r"script-src [^;]*'nonce-([^']+)'", policy)
    assert match, policy
    return match.group(1)


@pytest.mark.parametrize("url", ["/admin/login/", "/admin/"])
def test_admin_pages_send_a_csp_nonce_and_every_script_carries_it(client, staff, url):
    if url == "/admin/":
        client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    nonce = nonce_of(response)
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    executable = [tag for tag in scripts if 'type="application/json"' not in tag]
    assert any("vendor/htmx.min.js" in tag for tag in executable)
    assert any("vendor/htmx-ext-ws.min.js" in tag for tag in executable)
    for tag in executable:
        assert f'nonce="{nonce}"' in tag, tag


def test_each_response_gets_a_fresh_nonce(client):
    assert nonce_of(client.get("/admin/login/")) != nonce_of(client.get("/admin/login/"))


def test_policy_forbids_inline_scripts_without_the_nonce(client):
    policy = client.get("/admin/login/").headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in policy


def test_console_speaks_french_by_default(client):
    response = client.get("/admin/login/")
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert "Hypervisual Console" in html
    assert "Nom d’utilisateur" in html


def test_an_english_browser_still_gets_the_french_console(client):
    html = client.get("/admin/login/", headers={"Accept-Language": "en-US,en;q=0.9"}).content.decode()
    assert '<html lang="fr"' in html
    assert "Nom d’utilisateur" in html


def test_english_is_available_through_the_language_switch(client, staff):
    client.force_login(staff)
    assert "Langue" in client.get("/admin/").content.decode()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert response.status_code == 302
    html = client.get("/admin/").content.decode()
    assert '<html lang="en"' in html
    assert "Language" in html  # from the console's own English catalog (locale/en)
    assert "Log out" in html


def test_htmx_writes_pass_csrf_with_the_token_the_shell_renders(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    html = client.get("/admin/").content.decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)
    assert 'src="/static/console/htmx-csrf.js"' in html

    refused = client.post("/i18n/setlang/", {"language": "en"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    accepted = client.post(
        "/i18n/setlang/", {"language": "en"}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert accepted.status_code in (200, 204, 302)


def test_vendored_htmx_is_version_2_with_the_ws_extension():
    from django.conf import settings

    htmx = (settings.BASE_DIR / "static/vendor/htmx.min.js").read_text()
    ws = (settings.BASE_DIR / "static/vendor/htmx-ext-ws.min.js").read_text()
    assert 'version:"2.' in htmx
    assert 'defineExtension("ws"' in ws
