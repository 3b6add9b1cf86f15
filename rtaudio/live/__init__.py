"""Live audio: sound devices (sounddevice/PortAudio) and the JACK bridge around the engine.

The adapters share :class:`~rtaudio.live.pump.EnginePump`: the audio callback only copies
between preallocated rings, a worker thread runs the engine. sounddevice and JACK-Client
are imported only when a device or the bridge is opened, so file mode needs neither.
"""
