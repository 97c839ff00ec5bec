"""The HTTP edge: the FastAPI app, its routes and dependencies, and Auth0's error bodies."""
