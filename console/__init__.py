"""The operator console: the unanswered-questions queue, the curation actions and the dashboard.

A small Sanic application on loopback (`python -m console`, started by `make run` and the production
profile), always behind a login. It reads the tables of insights/schema.py from the conversation
database, writes training examples into data/nlu/<topic>.yml, and exports the Spanish texts beside
the English for a translation review (translations.py; docs/curation.md).
"""
