"""WaveNet chord generator: triad data rendered with fluidsynth, model, training, export."""
