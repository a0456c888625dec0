from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from orders.events import consumer
from orders.models import DeadLetter


class Command(BaseCommand):
    help = ("Messages no consumer could process. `list` shows them; `replay [ID ...]` sends them "
            "to the broker again (all not yet replayed when no id is given). Replay is safe to "
            "repeat: consumers de-duplicate by message id, and a poison message goes straight "
            "back here.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "replay"])
        parser.add_argument("ids", nargs="*", type=int)

    def handle(self, *args, action, ids, **options):
        letters = DeadLetter.objects.order_by("id")
        if ids:
            letters = letters.filter(id__in=ids)
        if action == "list":
            self.stdout.write(f"{letters.count()} dead letter(s)")
            for letter in letters:
                replayed = f" replayed {letter.replayed_at:%H:%M:%S}" if letter.replayed_at else ""
                self.stdout.write(f"#{letter.id} {letter.kind:<9} {letter.type or '?':<20} "
                                  f"{letter.message_id or '-'} tries={letter.attempts}"
                                  f"{replayed}\n    {letter.error}")
            return
        if not ids:
            letters = letters.filter(replayed_at=None)
        sent = 0
        for letter in letters:
            if not isinstance(letter.body, dict) or "id" not in letter.body:
                self.stderr.write(f"#{letter.id}: not a message (no id): left as it is")
                continue
            try:
                consumer.publish(letter.body)
            except Exception as exc:  # noqa: BLE001 - say which, keep going
                raise CommandError(f"#{letter.id}: the broker refused it: {exc}") from exc
            letter.replayed_at = timezone.now()
            letter.save(update_fields=["replayed_at"])
            sent += 1
        self.stdout.write(f"replayed {sent} message(s)")
