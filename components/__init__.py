"""Custom Rasa NLU components: medication entities and the safety net."""
