"""The ids platforms give the pictures uploaded to them (Telegram's `file_id`), so a picture many
people are sent (a base's, an appeal's) goes up once for every process: one hash per platform
account, a field per picture. A lost id costs one upload again, so it may start afresh."""

from __future__ import annotations

from bot.store.base import Area, call
from bot.store.keys import MEDIA_TTL


class MediaStore(Area):
    """Pictures' ids on a platform account."""

    async def get(self, channel: str, account: str, picture: str) -> str | None:
        """The platform's id for a picture, if it was uploaded."""
        found = await call(self.redis.hget(self.keys.media(channel, account), picture))
        return str(found) if found else None

    async def put(self, channel: str, account: str, picture: str, media_id: str) -> None:
        """Keep the id the platform gave an uploaded picture (MEDIA_TTL from the last one)."""
        key = self.keys.media(channel, account)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, picture, media_id)
            pipe.expire(key, MEDIA_TTL)
            await call(pipe.execute())

    async def drop(self, channel: str, account: str, picture: str) -> None:
        """Forget an id the platform refused."""
        await call(self.redis.hdel(self.keys.media(channel, account), picture))
