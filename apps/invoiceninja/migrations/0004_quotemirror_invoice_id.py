from django.db import migrations, models


def copy_invoice_ids(apps, schema_editor):
    QuoteMirror = apps.get_model("invoiceninja", "QuoteMirror")
    batch = []
    for mirror in QuoteMirror.objects.only("pk", "payload").iterator(chunk_size=1000):
        invoice_id = str((mirror.payload or {}).get("invoice_id") or "")[:64]
        if invoice_id:
            mirror.invoice_id = invoice_id
            batch.append(mirror)
        if len(batch) >= 1000:
            QuoteMirror.objects.bulk_update(batch, ["invoice_id"])
            batch = []
    QuoteMirror.objects.bulk_update(batch, ["invoice_id"])


class Migration(migrations.Migration):

    dependencies = [
        ("invoiceninja", "0003_connection_label"),
    ]

    operations = [
        migrations.AddField(
            model_name="quotemirror",
            name="invoice_id",
            field=models.CharField(blank=True, db_index=True, max_length=64, verbose_name="facture Invoice Ninja"),
        ),
        migrations.RunPython(copy_invoice_ids, migrations.RunPython.noop),
    ]
