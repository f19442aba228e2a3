"""radmfa's benchmark: radmfa and a FreeRADIUS proxy side by side on loopback.

Run it with ``make bench`` or ``.venv/bin/python bench/run.py``; what each
figure means is in docs/benchmarks.md.
"""
