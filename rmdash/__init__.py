"""rmdash: measure an outsourcing vendor's Relationship Manager on facts.

The headless core. Everything here (reading uploads, storing batches in
DuckDB, computing KPIs, building Plotly figures, exports) works without
Streamlit; the app (`app.py`, `pages/`) and the CLI (`python -m rmdash`) are
thin shells over it. An import-linter contract in pyproject.toml enforces
that this package never imports streamlit.
"""

__version__ = "0.1.0"
