"""Custom actions, served by rasa-sdk's action server: medication.py answers a question about the
medication named or discussed before, suggestions.py offers likely questions when the assistant is
unsure; both answer from content/*.yml, read by the `content` package."""
