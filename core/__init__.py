"""PartnerWatch domain: storage, TikTok access, jobs and sync (no Streamlit, no sandbox)."""
