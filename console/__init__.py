"""The operator console: the unanswered-questions queue, the curation actions and the dashboard.

A small Sanic application on loopback (`python -m console`, started by `make run` and the production
profile), always behind a login. It reads the tables of insights/schema.py from the conversation
database and writes training examples into data/nlu/<topic>.yml (docs/curation.md).
"""
