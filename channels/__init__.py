"""Rasa input channels: REST, socket.io (the website widget), callback, Telegram, Slack, Messenger and
Twilio, each Rasa's own hardened, and every message of each passing one guard (guard.py, inbound.py)."""
