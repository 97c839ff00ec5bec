"""HTTP entry points (FastAPI), settings, token handling and the command line."""
