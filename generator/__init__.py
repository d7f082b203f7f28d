"""paddle-serving-scaffold: from a trained Paddle model to a running Pipeline service."""

__version__ = "0.1.0"
