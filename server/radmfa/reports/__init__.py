"""Reports over the store: rows for tables and exports (rows.py) and the
daily decisions chart (chart.py). Pure: counts and records in, text out."""
