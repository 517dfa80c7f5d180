"""``manage.py certificate_keygen <kid>``: print a new Ed25519 key pair for certificates."""

from django.core.management.base import BaseCommand

from certificates.signing import new_key_pair


class Command(BaseCommand):
    help = (
        "Print a new certificate signing key (CERTIFICATE_SIGNING_KEY) and its public part (add "
        "it to CERTIFICATE_VERIFY_KEYS when the key is retired). Keep the private line secret."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kid", help="the key's id, e.g. 2026-12")

    def handle(self, *args, kid: str, **options) -> None:
        private, public = new_key_pair(kid)
        self.stdout.write(f"CERTIFICATE_SIGNING_KEY={private}")
        self.stdout.write(f"# public part, for CERTIFICATE_VERIFY_KEYS after rotation: {public}")
