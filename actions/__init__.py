"""Custom actions, served by rasa-sdk's action server: medication.py answers a question about the
medication named or discussed before, suggestions.py offers likely questions when the assistant is
unsure, and content.py loads and checks the content/*.yml they answer from."""
