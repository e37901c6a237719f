"""Settings of bench/ingest.py's server: the console's own settings, plus a URLconf that adds the baseline.

Nothing here is used by the product; only `bench/ingest.py` points DJANGO_SETTINGS_MODULE at this module.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.ingest_urls"
