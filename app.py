"""rmdash app entry point (placeholder until the dashboard issue): shows what is in the store."""

import os

import streamlit as st

from rmdash.db import open_db

st.set_page_config(page_title="rmdash", layout="wide")
st.title("rmdash")
db_path = os.environ.get("RMDASH_DB", "data/rmdash.duckdb")
con = open_db(db_path)
st.dataframe(con.execute("SELECT kind, count(*) AS batches FROM batches GROUP BY kind").df())
