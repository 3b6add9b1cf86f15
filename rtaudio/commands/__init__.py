"""One module per ``rtaudio`` sub-command; each has ``register(subparsers)``."""
