"""fairpanel dashboard entry script: page config, sign-in, then one ``st.navigation``.

Run with ``fairpanel serve`` (or ``streamlit run app/streamlit_app.py``). The sign-in
mode comes from ``.streamlit/secrets.toml`` (an ``[auth]`` section: OIDC through
``st.login``) or the ``FAIRPANEL_AUTH`` environment variable (``local``, the default, or
``demo``, refused off loopback and on a store with real users); see :mod:`app.auth`.
Until someone signs in, the only page is the sign-in page; afterwards the navigation
holds exactly the pages of the user's role (:mod:`app.navigation`).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the project root that holds
# the `app` and `audits` packages (an installed fairpanel needs no help).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from streamlit import config as st_config  # noqa: E402

from app import auth, loaders  # noqa: E402
from app.formatting import plain  # noqa: E402
from app.navigation import SIGN_IN, PageSpec, pages_for  # noqa: E402
from app.state import SignedInUser  # noqa: E402
from audits.store.db import redact_url  # noqa: E402

FAVICON = Path(__file__).resolve().parent / "favicon.svg"
MSG_STORE = "Cannot open the fairpanel store at {url}: {error}"
MSG_CONFIG = "fairpanel is misconfigured: {error}"
MSG_KEY = ("This dashboard cannot write to the store: {error}. Start it with the "
           "deployment's FAIRPANEL_HOME (whose keys/ folder holds the pinned key); see "
           "the deployment guide.")
DEMO_NOTE = "DEMO mode: personas sign in without a password. Do not use with real data."


def main() -> None:
    """Configure the page, resolve the user, build the navigation and run the page."""
    _no_full_collection_after_each_run()
    # A bundled file, not ":material/...": Streamlit fetches a Material favicon from a
    # font CDN, which an offline install cannot reach (icons in the page are bundled).
    st.set_page_config(page_title="fairpanel", page_icon=str(FAVICON), layout="wide")
    # Users get the viewer's toolbar (no "Deploy", no developer menu).
    st.set_option("client.toolbarMode", "viewer")
    try:
        mode = auth.auth_mode()
    except ValueError as error:
        st.error(MSG_CONFIG.format(error=plain(error)))
        st.stop()
    try:
        store = loaders.get_store()
    except (ValueError, SQLAlchemyError) as error:
        st.error(MSG_STORE.format(url=plain(redact_url(loaders.database_url())),
                                  error=plain(error)))
        st.stop()
    try:
        store.check_signing_key()
    except ValueError as error:
        st.error(MSG_KEY.format(error=plain(error)))
        st.stop()
    refusal = auth.demo_refusal(store) if mode == "demo" else None
    if refusal is not None:
        st.error(refusal)
        st.stop()
    user = auth.resolve_user(store, mode)
    if user is None:
        page = st.navigation([_page(SIGN_IN)], position="hidden")
    else:
        # expanded: every page in the menu (Streamlit folds all but the first ten into
        # "View more" otherwise, and a role sees up to sixteen).
        page = st.navigation([_page(spec) for spec in pages_for(user.role)], expanded=True)
        _sidebar(user)
    page.run()


def _no_full_collection_after_each_run() -> None:
    """Turn off Streamlit's ``gc.collect()`` after every script run (``runner.postScriptGC``).

    With an audit's frames and the caches in memory, that full collection took about
    200 ms of every run: two thirds of a 300 ms fragment rerun (a slider step). Python's
    own generational collector still runs; only the forced extra pass goes. Set here,
    not only on the command line, so every way of starting the dashboard gets it.
    """
    if st_config.get_option("runner.postScriptGC"):
        st_config.set_option("runner.postScriptGC", False)


def _page(spec: PageSpec) -> st.Page:
    return st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path)


def _sidebar(user: SignedInUser) -> None:
    with st.sidebar:
        st.caption("Signed in as")
        st.text(user.display_name)
        st.caption(f"{plain(user.username)} · {user.role.label}"
                   + (" · demo persona" if user.mode == "demo" else ""))
        if user.mode == "demo":
            st.warning(DEMO_NOTE, icon=":material/science:")
        label = "Switch persona" if user.mode == "demo" else "Sign out"
        if st.button(label, key="sidebar.sign_out", icon=":material/logout:"):
            auth.sign_out(user)


main()
