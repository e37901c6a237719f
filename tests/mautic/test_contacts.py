"""Contacts both ways: incremental pull with checkpoints, push without duplicates, the conflict rule, segments."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client

from apps.core.models import SyncRun
from apps.core.sync import run_sync, start_sync
from apps.hub.models import Contact
from apps.mautic import contacts, jobs
from apps.mautic.client import MauticClient
from apps.mautic.models import ContactLink, ContactMirror
from apps.mautic.sandbox import records
from tests.mautic.conftest import run_jobs


def sync(connection, django_capture_on_commit_callbacks) -> SyncRun:
    with django_capture_on_commit_callbacks(execute=False):
        run, _created = start_sync(connection, "contacts")
    run_sync(run.pk)
    run.refresh_from_db()
    return run


def test_incremental_pull_pages_with_checkpoints_and_links_by_email_case_insensitively(
        connection, client_company, instance, django_capture_on_commit_callbacks, monkeypatch):
    from apps.mautic import sync as mautic_sync

    monkeypatch.setattr(mautic_sync.ContactsResource, "page_size", 2)
    for index in range(4):
        records.create(instance, "contact", {"fields": {"email": f"lead{index}@prospects.example"}, "dnc": []})
    records.create(instance, "contact", {"fields": {"email": "PAUL@boulangerie.EXAMPLE", "firstname": "Paul",
                                                    "lastname": "Martin", "phone": "+33 5 56 00 00 00"}, "dnc": []})
    run = sync(connection, django_capture_on_commit_callbacks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.pages, run.added) == (3, 5)
    assert run.checkpoint["high_water"]
    assert ContactMirror.objects.count() == 5
    link = ContactLink.objects.get()
    assert link.contact.email == "Paul@Boulangerie.example"
    assert Contact.objects.get(pk=link.contact.pk).phone == "+33 5 56 00 00 00"
    assert Contact.objects.count() == 1  # prospects stay mirrors: a hub contact lives under a company

    # Nothing changed: the next run starts from the high-water mark and rewrites nothing.
    again = sync(connection, django_capture_on_commit_callbacks)
    assert (again.added, again.updated) == (0, 0)


def test_push_of_a_hub_change_updates_the_same_mautic_contact(connection, client_company, instance,
                                                              django_capture_on_commit_callbacks):
    contact = client_company.contacts.get()
    with django_capture_on_commit_callbacks(execute=True):
        contact.first_name = "Paulo"
        contact.save()
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs("default", "webhooks")
    remote = records.objects(instance, "contact").get()
    assert remote.data["fields"]["firstname"] == "Paulo"
    with django_capture_on_commit_callbacks(execute=True):
        contact.phone = "0600000000"
        contact.save()
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs("default", "webhooks")
    assert records.objects(instance, "contact").count() == 1
    assert records.objects(instance, "contact").get().data["fields"]["phone"] == "0600000000"
    assert ContactLink.objects.get().segments.filter(segment="clients").exists()


def test_contact_existing_in_mautic_is_linked_not_duplicated_and_deleted_one_is_recreated(
        connection, client_company, instance, django_capture_on_commit_callbacks):
    existing = records.create(instance, "contact", {"fields": {"email": "paul@boulangerie.example"}, "dnc": []})
    contact = client_company.contacts.get()
    link = contacts.push(connection, MauticClient(connection), contact)
    assert link.mautic_id == existing.pk and records.objects(instance, "contact").count() == 1
    Client().delete(f"/sandbox/mautic/api/contacts/{existing.pk}/delete")  # unauthenticated: refused
    assert records.objects(instance, "contact").count() == 1
    existing.delete()
    contacts.mark_deleted(connection, link.mautic_id)
    link = contacts.push(connection, MauticClient(connection), contact)
    assert link.mautic_id != existing.pk and not link.deleted_in_mautic
    assert records.objects(instance, "contact").count() == 1


def test_invalid_email_is_not_pushed_and_the_reason_is_kept(connection, client_company, instance,
                                                            django_capture_on_commit_callbacks):
    contact = client_company.contacts.get()
    Contact.objects.filter(pk=contact.pk).update(email="paul@@nowhere")
    jobs.push_contact(contact.pk)
    assert "Adresse e-mail invalide" in ContactLink.objects.get(contact=contact).last_error
    assert records.objects(instance, "contact").count() == 0


def test_both_sides_changed_the_hub_wins_and_the_conflict_is_visible(connection, client_company, instance,
                                                                     django_capture_on_commit_callbacks):
    contact = client_company.contacts.get()
    link = contacts.push(connection, MauticClient(connection), contact)
    remote = records.objects(instance, "contact").get()
    records.touch(remote, fields={**remote.data["fields"], "firstname": "Pablo"})
    remote.date_modified += timedelta(minutes=1)  # dateModified has one-second resolution
    remote.save()
    Contact.objects.filter(pk=contact.pk).update(first_name="Paulin")
    with django_capture_on_commit_callbacks(execute=True):
        contacts.apply_remote(connection, records.contact_json(remote))
    link.refresh_from_db()
    assert link.conflict_at is not None and "Pablo" in link.conflict_detail
    assert Contact.objects.get(pk=contact.pk).first_name == "Paulin"
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs("default", "webhooks")
    assert records.objects(instance, "contact").get().data["fields"]["firstname"] == "Paulin"


def test_an_email_change_that_makes_mautic_merge_two_contacts_relinks_to_the_survivor(
        connection, client_company, instance, django_capture_on_commit_callbacks):
    contact = client_company.contacts.get()
    link = contacts.push(connection, MauticClient(connection), contact)
    survivor = records.create(instance, "contact", {"fields": {"email": "compta@boulangerie.example"}, "dnc": []})
    with django_capture_on_commit_callbacks(execute=True):
        contact.email = "Compta@Boulangerie.example"
        contact.save()
    for _round in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs("default", "webhooks")
    link.refresh_from_db()
    assert link.mautic_id == survivor.pk and not link.deleted_in_mautic
    assert list(records.objects(instance, "contact").values_list("pk", flat=True)) == [survivor.pk]
    assert records.objects(instance, "contact").get().data["fields"]["firstname"] == "Paul"


def test_segments_follow_hub_state_even_after_a_change_made_in_mautic(connection, overdue, instance,
                                                                      django_capture_on_commit_callbacks):
    from apps.mautic import segments

    contact = overdue.company.contacts.get()
    link = contacts.push(connection, MauticClient(connection), contact)
    assert segments.sync_link(connection, MauticClient(connection), link) == ({"clients"}, set())
    clients = records.objects(instance, "segment").get(data__alias="clients")
    remote = records.objects(instance, "contact").get()
    records.touch(remote, segments=[])  # someone removed the contact from "Clients" in Mautic
    assert segments.sync_link(connection, MauticClient(connection), link) == ({"clients"}, set())
    assert clients.pk in records.objects(instance, "contact").get().data["segments"]
    assert segments.sync_link(connection, MauticClient(connection), link) == (set(), set())
