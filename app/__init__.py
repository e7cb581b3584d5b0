"""fairpanel's dashboard: a thin Streamlit UI over the :mod:`audits` engine.

Run it with ``streamlit run app/streamlit_app.py`` (or ``fairpanel serve``).
"""
