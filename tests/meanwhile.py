"""Another process's write landing between the moment the code under test read a row and the moment it saves it.

A save that names its fields keeps that write; one that saves the whole row puts back the values it read, and the
other write is lost without a trace.
"""

from contextlib import contextmanager

from django.db.models.signals import pre_save


@contextmanager
def written_meanwhile(model, pk, **values):
    """Commits `values` on row `pk` just before the first save of that row inside the block; yields the list of
    saves it preceded, so that a test can check the race happened."""
    preceded = []

    def write_first(sender, instance, **kwargs):
        if instance.pk == pk and not preceded:
            preceded.append(kwargs.get("update_fields"))
            model.objects.filter(pk=pk).update(**values)

    uid = f"written-meanwhile-{model._meta.label}-{pk}"
    pre_save.connect(write_first, sender=model, weak=False, dispatch_uid=uid)
    try:
        yield preceded
    finally:
        pre_save.disconnect(sender=model, dispatch_uid=uid)
