"""Queues and failed jobs are read on the console's Exploitation page; django-rq's own pages are kept for superusers.

No page links to django-rq: the admin index does not list it, and its admin entry leads operators (the
"Exploitation" group) to the console's page. django-rq's pages (English, jobs with their arguments, "empty
queue") open for superusers alone; operators and other staff are refused. Every django-rq page, given odd
arguments (unknown queue, job, worker, scheduler, dashboard id), answers 404 rather than 500.
"""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.urls import URLPattern, URLResolver, get_resolver

from apps.core.capabilities import group_name

pytestmark = pytest.mark.django_db

ODD_VALUES = {"int": ["0", "7"], "str": ["inconnu"], "path": ["inconnu/sous-chemin"]}


def rq_paths() -> list[str]:
    """Every URL of django-rq (its own include and the admin's dashboard), filled with odd arguments."""
    paths = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and ("django-rq/" in route or "django_rq/" in route):
                paths.extend(fill(route))

    walk(get_resolver().url_patterns, "")
    return sorted(set(paths))


def fill(route: str) -> list[str]:
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<token>[^)]*\)\?", "jeton", route).replace("/?", "/").replace("\\.", ".")
    converters = re.findall(r"<(?:(\w+):)?\w+>", route)
    if not converters:
        return ["/" + route]
    filled = []
    for values in zip(*[ODD_VALUES[c or "str"] * 2 for c in converters]):
        path = route
        for value in values:
            path = re.sub(r"<(?:\w+:)?\w+>", value, path, count=1)
        filled.append("/" + path)
    return filled


def login(client, user):
    client.force_login(user)
    client.raise_request_exception = False
    return client


@pytest.fixture
def staff_without_group(db):
    return User.objects.create_user("stagiaire", is_staff=True)


@pytest.fixture
def operator(db):
    user = User.objects.create_user("exploitant", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name("operate_queues")))
    return User.objects.get(pk=user.pk)


def test_the_paths_cover_both_dashboards():
    paths = rq_paths()
    assert "/django-rq/" in paths and "/admin/django_rq/dashboard/" in paths
    assert any(p.startswith("/django-rq/workers/") for p in paths)
    assert any(p.startswith("/admin/django_rq/dashboard/queues/") for p in paths)


@pytest.mark.parametrize("who", ["staff", "operator"])
def test_only_superusers_open_django_rq_pages(client, who, staff_without_group, operator, redis_connection):
    login(client, operator if who == "operator" else staff_without_group)
    opened = {}
    for path in rq_paths() + ["/admin/django_rq/dashboard/1/change/"]:
        if path == "/admin/django_rq/dashboard/":
            continue  # the admin entry leads to the console's page (below)
        response = client.get(path)
        if response.status_code == 200 or (response.status_code == 302 and "/login/" not in response["Location"]):
            opened[path] = response.status_code
    assert opened == {}
    assert client.post("/django-rq/queues/0/empty/").status_code in (403, 404)
    refused = client.get("/django-rq/")
    assert "réservées aux superutilisateurs" in refused.content.decode()


def test_no_page_links_to_django_rq_and_its_admin_entry_leads_to_the_exploitation_page(
        client, staff_without_group, operator, redis_connection):
    superuser = User.objects.create_superuser("admin", "admin@example.test", "x")
    for user in (operator, superuser):
        login(client, user)
        index = client.get("/admin/").content.decode()
        assert "django_rq" not in index and "django-rq" not in index and "Django_Rq" not in index
        assert "/console/exploitation/" in index
        exploitation = client.get("/console/exploitation/").content.decode()
        assert "django_rq" not in exploitation and "django-rq" not in exploitation
        assert client.get("/admin/django_rq/dashboard/")["Location"] == "/console/exploitation/"

    login(client, staff_without_group)
    assert client.get("/admin/django_rq/dashboard/").status_code == 403


def test_superusers_see_django_rq_and_odd_links_answer_404(client, redis_connection):
    login(client, User.objects.create_superuser("admin", "admin@example.test", "x"))
    for home in ("/django-rq/", "/django-rq/queues/0/", "/admin/django_rq/dashboard/queues/0/"):
        response = client.get(home)
        assert response.status_code == 200, home
        assert "default" in response.content.decode()

    errors = {}
    for path in rq_paths() + ["/admin/django_rq/dashboard/1/change/", "/admin/django_rq/dashboard/1/delete/"]:
        status = client.get(path).status_code
        if status >= 500:
            errors[path] = status
    assert errors == {}
    assert client.get("/admin/django_rq/dashboard/1/change/").status_code == 404
    assert client.get("/django-rq/workers/0/inconnu/").status_code == 404
    assert client.get("/django-rq/schedulers/0/").status_code == 404
    assert client.get("/django-rq/queues/7/").status_code == 404
