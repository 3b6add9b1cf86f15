"""I/O adapters: files (here), sound devices and JACK (imported only when used)."""
