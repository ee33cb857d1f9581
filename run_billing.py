"""Weekly billing: `python run_billing.py --help` (see automation/cli.py)."""

from automation.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
