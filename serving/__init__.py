"""Server-side pieces: the launcher (launch.py), the environments the endpoints are written for
(environments.py) and the lock stores Rasa loads by module path."""
