"""WeChat: Official Account callbacks, its API, the outlet, subscription notices, WeChat Pay."""
