"""A paginator for very large admin lists: never a full COUNT(*) per page.

Unfiltered list on PostgreSQL: the planner's row estimate (pg_class.reltuples), exact when the table is
small. Filtered list: a count capped at COUNT_CAP rows (`SELECT COUNT(*) FROM (... LIMIT n)`), so a filter
matching most of a million rows still costs a bounded index scan; pages past the cap are not offered.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self):
        queryset = self.object_list
        if not queryset.query.where:
            estimate = self._planner_estimate(queryset)
            if estimate is not None and estimate > COUNT_CAP:
                return estimate
        # Without the ORDER BY, PostgreSQL counts straight off the filter's index instead of walking the
        # ordering index until it has found COUNT_CAP matches.
        return queryset.order_by()[:COUNT_CAP].count()

    @staticmethod
    def _planner_estimate(queryset) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        # -1 means "never analysed": fall back to counting.
        return row[0] if row and row[0] >= 0 else None
