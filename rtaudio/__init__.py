"""rtaudio: a real-time streaming neural audio processor (numpy + ONNX Runtime)."""

from rtaudio.api import open  # noqa: A004 - rtaudio.open(task) is the public entry point
from rtaudio.engine.processor import Processor, process_offline

__version__ = "0.1.0"
__all__ = ["Processor", "__version__", "open", "process_offline"]
