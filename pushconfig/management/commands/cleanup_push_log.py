"""Clean up the push log now, as the daily beat task does (定时清理), or only report (dry run).

    python manage.py cleanup_push_log --dry-run              # every config with cleanup on
    python manage.py cleanup_push_log --config oa2 --dry-run  # one config, by id or identifier
    python manage.py cleanup_push_log --config 7             # delete now

Deletes, per config, the records triggered more than its keep days ago whose outcome is
success, ignored or pending, in chunks (pushconfig.cleanup). A config whose cleanup is off is
only reported on with --dry-run: deleting its log is refused, so the command never deletes
what the configuration says to keep.
"""
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from integration.ids import parse_id
from pushconfig import cleanup
from pushconfig.models import PushConfig


class Command(BaseCommand):
    help = ("Delete old success, ignored and pending push records as the daily cleanup does, "
            "or report what would go (--dry-run).")

    def add_arguments(self, parser):
        parser.add_argument("--config", help="A push config's id or identifier (default: "
                                             "every config with cleanup on).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Report what would be deleted; delete nothing.")
        parser.add_argument("--chunk", type=int, default=cleanup.CHUNK,
                            help="Records per delete statement (default %(default)s).")

    def handle(self, *args, config=None, dry_run=False, chunk=cleanup.CHUNK, **options):
        if chunk < 1:
            raise CommandError(_("--chunk must be at least 1."))
        if config is None:
            configs = list(PushConfig.objects.filter(cleanup_enabled=True).order_by("pk"))
            if not configs:
                self.stdout.write(_("No push config has cleanup on."))
                return
        else:
            found = PushConfig.objects.filter(identifier=config).first()
            if found is None and parse_id(config) is not None:
                found = PushConfig.objects.filter(pk=parse_id(config)).first()
            if found is None:
                raise CommandError(_("No push config with the id or identifier “%(config)s”.")
                                   % {"config": config})
            if not found.cleanup_enabled and not dry_run:
                raise CommandError(_("Cleanup is off for %(config)s: turn it on, or use "
                                     "--dry-run to see what it would delete.")
                                   % {"config": found})
            configs = [found]
        for each in configs:
            report = cleanup.preview(each) if dry_run else cleanup.run(each, chunk=chunk)
            self.stdout.write(cleanup.describe(report, dry_run))
