"""Entry point of the LLMOps playground: `streamlit run streamlit_app.py`.

Two pages: the prompt playground (pick a prompt by alias, fill its variables, call the LLM gateway) and
the evaluation scorecards. Settings come from the environment (see playground/config.py).
"""

import streamlit as st

from playground.ui import playground_page, scorecards_page

st.set_page_config(page_title="LLMOps playground", layout="wide")
st.navigation(
    [
        st.Page(playground_page, title="Playground", url_path="playground", default=True),
        st.Page(scorecards_page, title="Scorecards", url_path="scorecards"),
    ]
).run()
