"""PartnerWatch: `streamlit run streamlit_app.py` (or `make run`).

A thin `st.App` wrapper. The Streamlit script is `ui/shell.py`, which sits away from `pages/` so that a
cold deep link to any page still runs the shell (and its sign-in gate) first. A live configuration with
problems stops the process here, before it serves anything (`ui/startup.py`).
"""

import streamlit as st

from core.store.database import StoreError
from ui.api import store_error
from ui.routes import ROUTES, lifespan
from ui.startup import check_or_exit

check_or_exit()

app = st.App("ui/shell.py", routes=ROUTES, lifespan=lifespan, exception_handlers={StoreError: store_error})
