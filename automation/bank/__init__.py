"""Payments from bank statements: read the bank's file, match lines to invoices.

One reader per format (`onec`, `camt`, `mt940`, `ofx`, `csvfile`), each
recognised by the file's content (`detect`) and each giving the same plain
record, `record.BankLine`; `match.match_lines` is a pure function from open
invoices and bank lines to decisions; `store` keeps lines and decisions in
the ledger, and `apply` ties them into the run.

    lines, errors = read_statement(Path("statements/kaspi.txt"), config.bank)
    decisions = match_lines(open_invoices, payers, lines, fee_tolerance=Decimal("0"))

Nothing is imported here: a run without statements does not load the readers.
"""
