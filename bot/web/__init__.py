"""The web server: the aiohttp app, its supervisor, the public pages, and the console."""
