"""Weekly billing: `python run_billing.py --help` (see automation/cli.py).

The command line is imported only when this file runs as the program: each
render worker (multiprocessing) imports this file again as its main module,
and needs none of the command line.
"""

if __name__ == "__main__":
    from automation.cli import program

    raise SystemExit(program())
