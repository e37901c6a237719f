"""deploy/prometheus/alerts.yml: valid for Prometheus, unit-tested on sample series, same thresholds as the page.

promtool comes from Debian's `prometheus` package, which `make test` installs when it is missing.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from apps.operations import thresholds

RULES_DIR = Path(settings.BASE_DIR) / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args, cwd=RULES_DIR):
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool introuvable : `make test` installe le paquet Debian prometheus "
                    "(apt-get install prometheus).")
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rules() -> dict:
    loaded = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    return {rule["alert"]: rule for group in loaded["groups"] for rule in group["rules"]}


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_catches_a_broken_rule(tmp_path):
    broken = (RULES_DIR / "alerts.yml").read_text().replace("console_webhook_oldest_waiting_seconds > 120",
                                                             "console_webhook_oldest_waiting_seconds >")
    (tmp_path / "alerts.yml").write_text(broken)
    assert promtool("check", "rules", "alerts.yml", cwd=tmp_path).returncode != 0


def test_the_unit_tests_fail_when_a_threshold_moves(tmp_path):
    moved = (RULES_DIR / "alerts.yml").read_text().replace("console_webhook_oldest_waiting_seconds > 120",
                                                            "console_webhook_oldest_waiting_seconds > 600")
    (tmp_path / "alerts.yml").write_text(moved)
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path)
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ConsoleWebhookBacklog" in result.stdout + result.stderr


def test_every_alert_the_issue_asks_for_exists_with_the_pages_thresholds():
    found = rules()
    expected = {
        "ConsoleWebhookBacklog": f"> {thresholds.OLDEST_WAITING_WEBHOOK_SECONDS}",
        "ConsoleSyncStale": f"> {thresholds.SYNC_STALE_PERIODS} * console_sync_period_seconds",
        "ConsoleRefreshTokenExpiring": f"< {thresholds.REFRESH_TOKEN_WARNING_SECONDS}",
        "ConsoleRefreshTokenRefused": "console_oauth_reconnect_required == 1",
        "ConsoleNoWorker": f"console_rq_workers_alive < {thresholds.MIN_WORKERS_ALIVE}",
        "ConsoleServerErrors": f"> {thresholds.SERVER_ERROR_RATIO}",
        "ConsoleQueueGrowing": "deriv(console_rq_queue_depth",
    }
    for alert, fragment in expected.items():
        assert fragment in found[alert]["expr"], (alert, found[alert]["expr"])
    assert found["ConsoleQueueGrowing"]["for"] == f"{thresholds.QUEUE_GROWTH_MINUTES}m"


def test_the_rules_only_read_metrics_the_console_exports(client, settings, db, redis_connection):
    """A typo in a metric name would make an alert silently never fire."""
    import re

    settings.METRICS_TOKEN = "t" * 32
    exported = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "t" * 32).content.decode()
    names = set(re.findall(r"^# TYPE (\S+)", exported, flags=re.M))
    names |= {f"{name}_total" for name in names}
    for alert, rule in rules().items():
        for metric in re.findall(r"\bconsole_[a-z_]+", rule["expr"]):
            assert metric in names, (alert, metric)
