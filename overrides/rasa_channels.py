"""Private parts of Rasa's output channels, for channels/.

Each helper does what the private call did where it was used, and is listed in
`overrides.PRIVATE_USES` (version-checked); why they live here: overrides/README.md, "Private uses".
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels import facebook, twilio
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.channels.slack import SlackBot
from rasa.core.channels.socketio import SocketIOOutput

# Channels.


async def collect(output: CollectingOutputChannel, message: dict[str, Any]) -> None:
    """One more element of a REST or callback reply (`CollectingOutputChannel._persist_message`)."""
    await output._persist_message(message)


async def emit_bot_message(output: SocketIOOutput, recipient_id: str, response: Any) -> None:
    """One more `bot_uttered` event to the widget (`SocketIOOutput._send_message`)."""
    await output._send_message(recipient_id, response)


async def post_to_slack(bot: SlackBot, channel: str, **kwargs: Any) -> None:
    """Slack's chat.postMessage as the Slack output sends every message (`SlackBot._post_message`)."""
    await bot._post_message(channel=channel, **kwargs)


class MessengerSeam(facebook.Messenger):
    """Messenger whose `_handle_user_message` (every message and postback it receives) hands over
    to the public `handle_user_message`, for subclasses to override."""

    async def _handle_user_message(self, text: str, sender_id: str, metadata: dict[str, Any] | None) -> None:
        await self.handle_user_message(text, sender_id, metadata)

    async def handle_user_message(self, text: str, sender_id: str, metadata: dict[str, Any] | None) -> None:
        """Messenger's own (`Messenger._handle_user_message`)."""
        await facebook.Messenger._handle_user_message(self, text, sender_id, metadata)


class TwilioOutputSeam(twilio.TwilioOutput):
    """TwilioOutput whose `_send_message` (every message it sends) hands over to the public
    `send_message_data`, for subclasses to override."""

    async def _send_message(self, message_data: dict[str, Any]) -> Any:
        return await self.send_message_data(message_data)

    async def send_message_data(self, message_data: dict[str, Any]) -> Any:
        """TwilioOutput's own (`TwilioOutput._send_message`)."""
        return await twilio.TwilioOutput._send_message(self, message_data)
