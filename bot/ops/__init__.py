"""For operators: backups, migrations, doctor's checks, and the embedded Redis."""
