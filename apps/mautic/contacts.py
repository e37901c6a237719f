"""Hub contacts <-> Mautic contacts, matched by email (case-insensitive). Pull, push and the conflict rule.

Push: a linked contact is PATCHed (404: deleted in Mautic -> created again through POST /contacts/new);
an unlinked one goes through POST /contacts/new, which Mautic turns into an update of the contact with the
same email (200 instead of 201, NOTES §3.2) — so a contact that already exists in Mautic is linked, never
duplicated. A hub contact with an invalid email is not pushed; the reason is kept on the link.

Pull (sync and webhooks): a Mautic contact whose email matches a hub contact is linked; one that matches
none stays a mirror (the hub holds a contact only under a company). Conflict rule (README): when both sides
changed since they were last equal, the hub wins for name, phone and email (it is the business record), the
Mautic values are written in the link's conflict note, visible on the record panel and in the admin, and
the hub version is pushed. Mautic always wins for do-not-contact state, which only Mautic decides.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.models import Connection
from apps.hub.models import Contact
from apps.mautic.client import MauticClient, NotFound, as_int, contact_email, contact_fields, do_not_contact_reasons
from apps.mautic.models import ContactLink

logger = logging.getLogger(__name__)


class InvalidContact(ValueError):
    """The hub contact cannot be sent to Mautic (the message says why, in French)."""


def hub_fields(contact: Contact) -> dict:
    fields = {"email": contact.email.strip(), "firstname": contact.first_name, "lastname": contact.last_name,
              "company": contact.company.name}
    if contact.phone:
        fields["phone"] = contact.phone
    return fields


def check_email(contact: Contact) -> str:
    email = (contact.email or "").strip()
    if not email:
        raise InvalidContact(_("Le contact « %(name)s » n'a pas d'adresse e-mail.") % {"name": contact})
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidContact(_("Adresse e-mail invalide pour « %(name)s » : %(email)s.")
                             % {"name": contact, "email": email}) from None
    return email


def apply_dnc(link: ContactLink, remote: dict) -> None:
    reasons = do_not_contact_reasons(remote)
    link.unsubscribed = 1 in reasons
    link.bounced = 2 in reasons
    link.do_not_contact = bool(reasons)


def link_for(connection: Connection, contact: Contact) -> ContactLink | None:
    return ContactLink.objects.filter(connection=connection, contact=contact).first()


def _store_link(connection, contact, remote) -> ContactLink:
    mautic_id = as_int(remote.get("id")) or None
    with transaction.atomic():
        # Another hub contact may hold this Mautic id (same email twice in the hub): the first one keeps it.
        owner = ContactLink.objects.filter(connection=connection, mautic_id=mautic_id).exclude(contact=contact).first()
        if owner is not None:
            raise InvalidContact(_("L'adresse %(email)s est déjà liée au contact « %(other)s ».")
                                 % {"email": contact.email, "other": owner.contact})
        link, _created = ContactLink.objects.select_for_update().get_or_create(
            connection=connection, contact=contact, defaults={"email": contact.email.strip(), "mautic_id": mautic_id})
        link.mautic_id = mautic_id
        link.email = contact.email.strip()
        apply_dnc(link, remote)
        link.mark_in_step(remote)
        link.save()
    return link


def push(connection: Connection, client: MauticClient, contact: Contact) -> ContactLink:
    """Create or update the contact in Mautic; returns its link. Raises InvalidContact or ApiError."""
    check_email(contact)
    link = link_for(connection, contact)
    fields = hub_fields(contact)
    if link is not None and link.mautic_id and not link.deleted_in_mautic:
        if not link.has_local_changes() and link.email.lower() == contact.email.strip().lower():
            return link
        try:
            remote = client.edit_contact(link.mautic_id, fields)
        except NotFound:
            remote, _created = client.upsert_contact(fields)
    else:
        remote, _created = client.upsert_contact(fields)
    return _store_link(connection, contact, remote)


def ensure_linked(connection: Connection, client: MauticClient, contact: Contact) -> ContactLink:
    link = link_for(connection, contact)
    if link is not None and link.mautic_id and not link.deleted_in_mautic and not link.has_local_changes():
        return link
    return push(connection, client, contact)


def record_push_failure(connection: Connection, contact: Contact, message: str) -> None:
    ContactLink.objects.update_or_create(connection=connection, contact=contact,
                                         defaults={"email": (contact.email or "")[:254], "last_error": message[:500]})


def matching_hub_contact(email: str) -> Contact | None:
    if not email:
        return None
    return Contact.objects.filter(email__iexact=email.strip()).order_by("-is_primary", "pk").first()


def fill_blanks(contact: Contact, remote: dict) -> None:
    values = contact_fields(remote)
    changed = []
    for attribute, alias, length in (("first_name", "firstname", 100), ("last_name", "lastname", 100),
                                     ("phone", "phone", 40)):
        if not getattr(contact, attribute) and values.get(alias):
            setattr(contact, attribute, str(values[alias])[:length])
            changed.append(attribute)
    if changed:
        contact.save(update_fields=changed)


def apply_remote(connection: Connection, remote: dict) -> ContactLink | None:
    """Reflect a Mautic contact (from a list, a get or a webhook) into its link and hub contact."""
    mautic_id = as_int(remote.get("id"))
    if not mautic_id:
        return None
    email = contact_email(remote)
    link = ContactLink.objects.filter(connection=connection, mautic_id=mautic_id).select_related("contact").first()
    if link is None:
        contact = matching_hub_contact(email)
        if contact is None:
            return None
        link = ContactLink.objects.filter(connection=connection, contact=contact).first()
        if link is None:
            fill_blanks(contact, remote)  # first meeting: nothing to conflict with, the hub's values stay
            return _store_link(connection, contact, remote)
        link.mautic_id = mautic_id
    apply_dnc(link, remote)
    link.deleted_in_mautic = False
    modified = str(remote.get("dateModified") or remote.get("dateAdded") or "")
    remote_changed = bool(modified) and modified != link.remote_modified
    contact = link.contact
    if remote_changed and link.has_local_changes():
        values = contact_fields(remote)
        link.conflict_at = timezone.now()
        link.conflict_detail = (_("Modifié des deux côtés ; la console l'emporte. Valeurs Mautic écartées : "
                                  "%(first)s %(last)s <%(email)s> %(phone)s")
                                % {"first": values.get("firstname") or "", "last": values.get("lastname") or "",
                                   "email": email, "phone": values.get("phone") or ""})[:500]
        link.remote_modified = modified
        link.save()
        from apps.mautic import jobs  # the push runs after commit, in a worker

        jobs.enqueue_push(contact.pk)
        return link
    if remote_changed:
        values = contact_fields(remote)
        changed = []
        for attribute, alias in (("first_name", "firstname"), ("last_name", "lastname"), ("phone", "phone")):
            value = str(values.get(alias) or "")
            if value and value != getattr(contact, attribute):
                setattr(contact, attribute, value[:100 if attribute != "phone" else 40])
                changed.append(attribute)
        if email and email.lower() != contact.email.strip().lower():
            try:
                validate_email(email)
                contact.email = email
                changed.append("email")
            except ValidationError:
                pass
        if changed:
            contact.save(update_fields=changed)
        link.email = contact.email
        link.mark_in_step(remote)
    link.save()
    return link


def mark_deleted(connection: Connection, mautic_id: int) -> ContactLink | None:
    link = ContactLink.objects.filter(connection=connection, mautic_id=mautic_id).first()
    if link is not None:
        link.deleted_in_mautic = True
        link.last_error = _("Contact supprimé dans Mautic ; il sera recréé au prochain envoi.")
        link.save(update_fields=["deleted_in_mautic", "last_error"])
    return link
