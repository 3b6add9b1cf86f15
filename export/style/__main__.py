"""``python -m export.style STYLE.wav ...``: train a feed-forward style network (see :mod:`export.style.train`)."""

from export.style.train import main

main()
