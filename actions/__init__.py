"""Custom actions for the opioid-withdrawal FAQ assistant (run by `rasa run actions`)."""
