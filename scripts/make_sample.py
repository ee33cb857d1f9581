"""Build the bundled sample workbook `workbooks/service_log.xlsx`.

A small firm's log as Excel writes it (XlsxWriter stores formulas with their
cached results, formats, a title above the headers and a summary chart):
nine clients on different terms, currencies and languages, four weeks of
services, and two rows with mistakes for the bookkeeper to fix.

    python scripts/make_sample.py            # rewrites workbooks/service_log.xlsx
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import xlsxwriter

TARGET = Path(__file__).resolve().parent.parent / "workbooks" / "service_log.xlsx"

CLIENTS = [
    # name, email, cc, address, terms, currency, language, tax rate, active
    ("Acme Dental Clinic", "accounts@acme-dental.example", "dr.lee@acme-dental.example",
     "14 Elm Street\nSpringfield, IL 62701", "Net 30", "USD", "en", "8.25%", "Yes"),
    ("Blue Harbor Cafe", "owner@blueharbor.example", "", "2 Pier Road\nPortland, ME 04101",
     "Due on receipt", "USD", "en", "", "Yes"),
    ("Cedar & Pine Architects", "billing@cedarpine.example", "", "88 Market St, Suite 5\n"
     "Denver, CO 80202", "2/10 Net 30", "USD", "en", 0.05, "Yes"),
    ("Delta Logistics LLP", "finance@delta-logistics.example", "", "Abay Ave 150\nAlmaty 050000",
     "EOM 10", "KZT", "kk", 12, "Yes"),
    ("Evergreen Landscaping", "pay@evergreen.example", "", "400 Route 9\nAlbany, NY 12204",
     "15 days after receipt", "USD", "en", "", "Yes"),
    ("Fjord Analytics GmbH", "rechnung@fjord.example", "cfo@fjord.example",
     "Torstrasse 12\n10119 Berlin", "15 MFI", "EUR", "en", "19%", "Yes"),
    ("Granit Stroy", "buh@granit-stroy.example", "", "ul. Lenina 5\nAstana 010000",
     "Net 15", "RUB", "ru", "20%", "Yes"),
    ("Harbor View Hotel", "ap@harborview.example", "", "1 Bay Blvd\nSan Diego, CA 92101",
     "EOM", "USD", "en", "", "Yes"),
    ("Ivy Tutoring (closed)", "ivy@ivytutoring.example", "", "", "Net 30", "USD", "en", "",
     "No"),
]

# (days before the week ending 2026-11-20, client, description, qty, unit price)
SERVICES = [
    (25, "Acme Dental Clinic", "Monthly bookkeeping - October", 1, 450),
    (24, "Blue Harbor Cafe", "Payroll processing (2 runs)", 2, 85),
    (23, "Cedar & Pine Architects", "Quarterly VAT return", 1, 600),
    (22, "Delta Logistics LLP", "Бухгалтерское сопровождение, октябрь", 1, 180000),
    (21, "Evergreen Landscaping", "Accounts payable clean-up", 6.5, 70),
    (20, "Fjord Analytics GmbH", "Year-end close preparation", 12, 95),
    (19, "Granit Stroy", "Подготовка отчётности за квартал", 1, 45000),
    (18, "Harbor View Hotel", "Night audit reconciliation", 4, 120),
    (17, "Ivy Tutoring (closed)", "Final payroll filing", 1, 150),
    (16, "acme dental clinic ", "Payroll & benefits <setup>", 3, 60),
    (14, "Blue Harbor Cafe", "Sales-tax filing {{ Q3 }} \u2615", 1, 140),
    (12, "Cedar & Pine Architects", "Project cost report", 3.5, 110),
    (11, "Acme Dentall Clinic", "Bank reconciliation", 2, 75),  # mistake: unknown client
    (10, "Evergreen Landscaping", "1099 preparation", 8, 25),
    (9, "Harbor View Hotel", "Monthly bookkeeping - November", 1, 900),
    (8, "Fjord Analytics GmbH", "Intercompany reconciliation", 5, 95),
    (7, "Granit Stroy", "Консультация по налогам", 2, 12000),
    (5, "Delta Logistics LLP", "Payroll, November", 1, 95000),
    (4, "Blue Harbor Cafe", "Inventory count support", 3, 55),
    (3, "Cedar & Pine Architects", "Invoice review", 2, 80),  # mistake: amount below
    (1, "Acme Dental Clinic", "Payroll processing", 1, 120),
]
WEEK_END = date(2026, 11, 20)


def build(target: Path = TARGET) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(target))
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    title = wb.add_format({"bold": True, "font_size": 14})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0.00"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})

    clients = wb.add_worksheet("Clients")
    headers = ["Client", "Email", "CC", "Address", "Terms", "Currency", "Language", "Tax Rate",
               "Active"]
    clients.write_row(0, 0, headers, bold)
    for r, row in enumerate(CLIENTS, start=1):
        for c, value in enumerate(row):
            clients.write(r, c, value, wrap if c == 3 else None)
    clients.set_column(0, 0, 26)
    clients.set_column(1, 2, 30)
    clients.set_column(3, 3, 28)
    clients.set_column(4, 8, 14)
    clients.freeze_panes(1, 0)

    services = wb.add_worksheet("Services")
    services.write(0, 0, "Service log - Ledgerwise Bookkeeping", title)
    services.write(1, 0, "Type new services at the bottom; the weekly run fills the grey columns.")
    head = ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount", "Invoice No",
            "Due Date", "Status", "Error"]
    services.write_row(3, 0, head, bold)
    services.data_validation(4, 1, 500, 1, {"validate": "list", "source": "=Clients!$A$2:$A$50",
                                            "error_type": "warning"})
    first = 4
    for i, (days, client, text, qty, price) in enumerate(SERVICES):
        r = first + i
        services.write_datetime(r, 0, datetime.combine(WEEK_END - timedelta(days=days),
                                                       datetime.min.time()), day)
        services.write(r, 1, client)
        services.write(r, 2, text)
        services.write_number(r, 3, qty)
        services.write_number(r, 4, price, money)
        amount = qty * price
        if text == "Invoice review":
            services.write_number(r, 5, 150, money)  # typed by hand, disagrees with 2 x 80
        else:
            services.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", money, amount)
    last = first + len(SERVICES)
    services.set_column(0, 0, 12)
    services.set_column(1, 1, 26)
    services.set_column(2, 2, 40)
    services.set_column(3, 5, 12)
    services.set_column(6, 8, 15)
    services.set_column(9, 9, 50)
    services.freeze_panes(first, 0)
    services.autofilter(3, 0, last - 1, 9)

    summary = wb.add_worksheet("Summary")
    summary.write(0, 0, "Hours and fees by client (formulas)", title)
    summary.write_row(2, 0, ["Client", "Amount logged"], bold)
    for i, row in enumerate(CLIENTS):
        name = row[0]
        total = sum(q * p for _, c, _, q, p in SERVICES if c.strip().lower() == name.lower())
        summary.write(3 + i, 0, name)
        summary.write_formula(3 + i, 1, f'=SUMIF(Services!$B$5:$B${last},A{4 + i},'
                              f'Services!$F$5:$F${last})', money, total)
    chart = wb.add_chart({"type": "bar"})
    chart.add_series({"name": "Amount logged", "categories": f"=Summary!$A$4:$A${3 + len(CLIENTS)}",
                      "values": f"=Summary!$B$4:$B${3 + len(CLIENTS)}"})
    chart.set_title({"name": "Work logged"})
    summary.insert_chart("D3", chart)
    summary.set_column(0, 0, 28)
    summary.set_column(1, 1, 16)
    wb.define_name("ServiceLog", f"=Services!$A$4:$J${last}")
    wb.close()
    return target


if __name__ == "__main__":
    path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)
    print(f"wrote {path}")
