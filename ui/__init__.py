"""Streamlit side of PartnerWatch: the shell (router), shared widgets and the HTTP routes."""
