"""``python -m rnnkit`` (also what ``torchrun -m rnnkit`` runs)."""

from rnnkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
