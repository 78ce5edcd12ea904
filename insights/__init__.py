"""What real users asked and how the assistant did: recorded turns, feedback and the queue of missed
questions (schema.py), and the operations metrics (metrics.py)."""
