"""Fast-WaveNet generation: the native kernel is ``rtaudio/_wavenet.c``; here its numpy reference."""
