"""What real users asked and how the assistant did: the tables of recorded turns, feedback and the
queue of missed questions (schema.py; storage/record.py writes them), and the operations metrics
(metrics.py) with their exporter."""
