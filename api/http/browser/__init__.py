"""Browser login: /authorize, the hosted login and signup pages, logout and Lock's endpoints."""
