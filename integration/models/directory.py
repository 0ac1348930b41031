"""The org directory, synced from the OA: subcompanies, departments, persons, roles, posts,
groups, memberships and part-time identities. Every entry carries the OA's own id
(`external_id`), the key of the bulk upsert API."""
from django.db import models
from django.utils.translation import gettext_lazy as _


class DirectoryEntry(models.Model):
    external_id = models.CharField(_("OA id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True
        ordering = ["external_id"]

    def __str__(self):
        return f"{self.name} ({self.external_id})"


class Subcompany(DirectoryEntry):
    parent = models.ForeignKey(
        "self", verbose_name=_("parent subcompany"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="children",
    )

    class Meta(DirectoryEntry.Meta):
        verbose_name = _("subcompany")
        verbose_name_plural = _("subcompanies")


class Department(DirectoryEntry):
    subcompany = models.ForeignKey(
        Subcompany, verbose_name=_("subcompany"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="departments",
    )
    parent = models.ForeignKey(
        "self", verbose_name=_("parent department"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="children",
    )

    class Meta(DirectoryEntry.Meta):
        verbose_name = _("department")
        verbose_name_plural = _("departments")


class Post(DirectoryEntry):
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="posts",
    )

    class Meta(DirectoryEntry.Meta):
        verbose_name = _("post")
        verbose_name_plural = _("posts")


class Person(DirectoryEntry):
    login_id = models.CharField(_("login id"), max_length=64, unique=True)
    work_code = models.CharField(_("work code"), max_length=64, blank=True, db_index=True)
    email = models.EmailField(_("email"), max_length=254, blank=True, db_index=True)
    mobile = models.CharField(_("mobile"), max_length=32, blank=True, db_index=True)
    subcompany = models.ForeignKey(
        Subcompany, verbose_name=_("subcompany"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="persons",
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="persons",
    )
    post = models.ForeignKey(
        Post, verbose_name=_("post"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="persons",
    )

    class Meta(DirectoryEntry.Meta):
        verbose_name = _("person")
        verbose_name_plural = _("persons")

    def __str__(self):
        return f"{self.name} ({self.login_id})"


class Role(DirectoryEntry):
    members = models.ManyToManyField(
        Person, verbose_name=_("members"), blank=True, related_name="roles"
    )

    class Meta(DirectoryEntry.Meta):
        verbose_name = _("role")
        verbose_name_plural = _("roles")


class Group(DirectoryEntry):
    members = models.ManyToManyField(
        Person, verbose_name=_("members"), blank=True, related_name="groups"
    )

    class Meta(DirectoryEntry.Meta):
        verbose_name = _("group")
        verbose_name_plural = _("groups")


class PartTimeIdentity(models.Model):
    """A second post a person holds (兼职身份). Todo items are kept per identity: the same
    person may have one todo as themselves and another in a part-time post."""

    external_id = models.CharField(_("OA id"), max_length=64, unique=True)
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="identities"
    )
    subcompany = models.ForeignKey(
        Subcompany, verbose_name=_("subcompany"), null=True, blank=True, on_delete=models.SET_NULL
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.SET_NULL
    )
    post = models.ForeignKey(
        Post, verbose_name=_("post"), null=True, blank=True, on_delete=models.SET_NULL
    )
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("part-time identity")
        verbose_name_plural = _("part-time identities")
        ordering = ["external_id"]

    def __str__(self):
        return f"{self.person.name} / {self.post or self.department or self.external_id}"
