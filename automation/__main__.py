"""`python -m automation ...` works like `run_billing.py ...` (scheduled runs of an install)."""

from .cli import program

if __name__ == "__main__":
    raise SystemExit(program())
