"""Settings come from the environment; with DEBUG off the process refuses unsafe values, in one line each."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.environment import DEFAULT_SECRET_KEY, production_refusals

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_SECRET_KEY = "q7#Vd2!kR9@xW4$mZ8^pL1&nB6*cT3(yH5)jF0_sG2+aE7=uK9-oI4~wN8"
SAFE = {
    "debug": False,
    "secret_key": PRODUCTION_SECRET_KEY,
    "field_encryption_keys": [Fernet.generate_key().decode()],
    "sandbox": False,
}


def test_a_safe_production_environment_is_accepted():
    assert production_refusals(**SAFE) == []


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"secret_key": DEFAULT_SECRET_KEY}, "SECRET_KEY"),
        ({"secret_key": ""}, "SECRET_KEY"),
        ({"field_encryption_keys": []}, "FIELD_ENCRYPTION_KEYS"),
        ({"sandbox": True}, "SANDBOX"),
    ],
)
def test_each_unsafe_value_is_refused_with_a_message_naming_its_variable(change, variable):
    refusals = production_refusals(**{**SAFE, **change})
    assert len(refusals) == 1
    assert refusals[0].startswith(f"{variable}:")


def test_a_key_that_is_not_a_fernet_key_is_refused_even_with_debug_on():
    result = manage("check", DEBUG="1", FIELD_ENCRYPTION_KEYS="not-a-fernet-key")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("FIELD_ENCRYPTION_KEYS: ") and "not-a-fernet-key" not in line


def test_debug_accepts_the_development_defaults():
    assert production_refusals(debug=True, secret_key=DEFAULT_SECRET_KEY, field_encryption_keys=[], sandbox=True) == []


def manage(*args, **environment):
    """Run manage.py in a fresh interpreter with exactly these variables (plus PATH/HOME)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), **environment}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def production_environment(**overrides):
    environment = {
        "DEBUG": "0",
        "SECRET_KEY": PRODUCTION_SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SANDBOX": "0",
        "ALLOWED_HOSTS": "console.example.com",
        "PUBLIC_BASE_URL": "https://console.example.com",
    }
    environment.update(overrides)
    return environment


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SECRET_KEY": DEFAULT_SECRET_KEY}, "SECRET_KEY"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"FIELD_ENCRYPTION_KEYS": ""}, "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode() + ",ZGV2"}, "FIELD_ENCRYPTION_KEYS"),
        ({"SANDBOX": "1"}, "SANDBOX"),
    ],
)
def test_the_process_refuses_to_start_with_one_line_and_no_traceback(overrides, variable):
    result = manage("check", **production_environment(**overrides))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{variable}: ")


def test_every_refusal_is_listed_when_several_variables_are_wrong():
    result = manage("check", DEBUG="0", SANDBOX="1")
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stderr.strip().splitlines()] == [
        "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "SANDBOX",
    ]


def test_deploy_checks_are_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_and_http_only():
    script = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    result = manage("shell", "--no-imports", "-c", script, **production_environment())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "True"]


@pytest.mark.parametrize(
    ("environment", "sandbox_base_url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PUBLIC_BASE_URL": "http://127.0.0.1:8100/"}, "http://127.0.0.1:8100"),
        ({"PUBLIC_BASE_URL": "http://127.0.0.1:8100", "SANDBOX_BASE_URL": "http://127.0.0.1:9000"},
         "http://127.0.0.1:9000"),
    ],
)
def test_the_sandboxes_answer_on_the_consoles_own_address_unless_told_otherwise(environment, sandbox_base_url):
    # The emulators have no server of their own any more (README, bench/asgi_sync_views.py).
    script = "from django.conf import settings as s; print(s.SANDBOX_BASE_URL)"
    result = manage("shell", "--no-imports", "-c", script, DEBUG="1", SANDBOX="1", **environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sandbox_base_url
